"""Ask for a checkpoint name (checked as typed against the core's naming rule) before saving."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from core.errors import CheckpointError
from core.train.checkpoint import checkpoint_dir, is_shipped
from workbench.styles import SCREENS_CSS


class SaveCheckpointScreen(ModalScreen[str | None]):
    """Returns the chosen name, or None when cancelled."""

    CSS_PATH = SCREENS_CSS
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, suggested: str, step: int) -> None:
        super().__init__()
        self.suggested = suggested
        self.step = step

    def compose(self) -> ComposeResult:
        with Vertical(id="save-dialog", classes="dialog"):
            yield Static(f"Save a checkpoint of step {self.step:,}", classes="dialog-title")
            yield Input(self.suggested, id="save-name", placeholder="checkpoint name")
            yield Static("", id="save-status")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", id="save-ok", variant="primary")
                yield Button("Cancel", id="save-cancel")
            yield Static("enter saves · escape cancels", classes="dialog-hint")

    def on_mount(self) -> None:
        self._check(self.suggested)
        self.query_one("#save-name", Input).focus()

    def _check(self, name: str) -> bool:
        status = self.query_one("#save-status", Static)
        try:
            path = checkpoint_dir(name.strip())
        except CheckpointError as exc:
            status.update(f"✗ {exc}")
            status.set_classes("error")
            self.query_one("#save-ok", Button).disabled = True
            return False
        if is_shipped(name.strip()):
            status.update(f"✗ {name.strip()} is a model shipped with the workbench (read-only): choose another name")
            status.set_classes("error")
            self.query_one("#save-ok", Button).disabled = True
            return False
        exists = path.exists()
        # Whether the run is worse than what it replaces is decided on save (it needs an evaluation): if
        # so, a confirm screen asks before anything is replaced.
        status.update(f"replaces (asks first if that one is better): {path}" if exists else f"new: {path}")
        status.set_classes("warning" if exists else "ok")
        self.query_one("#save-ok", Button).disabled = False
        return True

    @on(Input.Changed, "#save-name")
    def _changed(self, event: Input.Changed) -> None:
        self._check(event.value)

    @on(Input.Submitted, "#save-name")
    @on(Button.Pressed, "#save-ok")
    def _submit(self) -> None:
        name = self.query_one("#save-name", Input).value.strip()
        if self._check(name):
            self.dismiss(name)

    @on(Button.Pressed, "#save-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
