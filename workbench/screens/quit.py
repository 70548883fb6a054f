"""Confirmations for a run with unsaved steps: quitting (save & quit, quit, cancel) and starting a new
run (save & start, start without saving, cancel)."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from workbench.styles import SCREENS_CSS


class QuitScreen(ModalScreen[str]):
    """Returns "save", "quit" or "cancel"."""

    CSS_PATH = SCREENS_CSS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "choose('cancel')", "Cancel"),
        Binding("s", "choose('save')", "Save & quit"),
        Binding("q", "choose('quit')", "Quit"),
    ]

    def __init__(self, message: str, name: str) -> None:
        super().__init__()
        self.message = message
        self.checkpoint = name

    def compose(self) -> ComposeResult:
        with Vertical(id="quit-dialog", classes="dialog"):
            yield Static("Quit the workbench?", classes="dialog-title")
            yield Static(f"{self.message}\nSave & quit saves it as checkpoint [b]{self.checkpoint}[/b] (asking "
                         "first if that checkpoint is better than this run).",
                         id="quit-message")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save & quit", id="quit-save", variant="primary")
                yield Button("Quit", id="quit-discard", variant="error")
                yield Button("Cancel", id="quit-cancel")
            yield Static("s save & quit · q quit without saving · escape cancel", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#quit-save", Button).focus()

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss({"quit-save": "save", "quit-discard": "quit"}.get(event.button.id or "", "cancel"))


class NewRunScreen(ModalScreen[str]):
    """Start a new run while the current one has unsaved steps? Returns "save", "new" or "cancel"."""

    CSS_PATH = SCREENS_CSS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "choose('cancel')", "Cancel"),
        Binding("s", "choose('save')", "Save & start"),
        Binding("n", "choose('new')", "Start without saving"),
    ]

    def __init__(self, message: str, name: str) -> None:
        super().__init__()
        self.message = message
        self.checkpoint = name

    def compose(self) -> ComposeResult:
        with Vertical(id="new-run-dialog", classes="dialog"):
            yield Static("Start a new run?", classes="dialog-title")
            yield Static(f"{self.message}\nSave & start saves it as checkpoint [b]{self.checkpoint}[/b] first "
                         "(asking if that checkpoint is better than this run). To continue this run, cancel "
                         "and press Resume (F6).", id="new-run-message")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save & start", id="new-save", variant="primary")
                yield Button("Start without saving", id="new-discard", variant="error")
                yield Button("Cancel", id="new-cancel")
            yield Static("s save & start · n start without saving · escape cancel", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#new-save", Button).focus()

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss({"new-save": "save", "new-discard": "new"}.get(event.button.id or "", "cancel"))
