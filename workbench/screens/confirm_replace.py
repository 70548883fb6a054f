"""Asking before a save replaces a checkpoint that is better than the run, or saves a diverged run over one.

Keyboard-driven: ``y`` replaces it, ``n`` saves the run under the free sibling name instead (nothing
is lost either way), ``escape`` does not save. The screen only returns the answer; the controller saves.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from workbench.styles import SCREENS_CSS


def replace_question(name: str, reason: str, alternative: str) -> str:
    """The question in plain words (Textual-free, so it can be tested on its own)."""
    return (f"{reason}.\nReplace {name}?  [b]y[/b]es · [b]n[/b]o — save as [b]{alternative}[/b] · "
            "[b]escape[/b] — do not save")


class ConfirmReplaceScreen(ModalScreen[str | None]):
    """Returns "replace", "sibling", or None (do not save)."""

    CSS_PATH = SCREENS_CSS
    DEFAULT_CSS = """
    ConfirmReplaceScreen { align: center middle; }
    #replace-dialog { max-width: 80; }
    #replace-question { height: auto; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer('replace')", "Replace"),
        Binding("n", "answer('sibling')", "Save as new"),
        Binding("escape", "answer('')", "Do not save"),
    ]

    def __init__(self, name: str, reason: str, alternative: str) -> None:
        super().__init__()
        self.checkpoint, self.reason, self.alternative = name, reason, alternative

    def compose(self) -> ComposeResult:
        with Vertical(id="replace-dialog", classes="dialog"):
            yield Static(f"Replace checkpoint {self.checkpoint}?", classes="dialog-title")
            yield Static(replace_question(self.checkpoint, self.reason, self.alternative), id="replace-question")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"Save as {self.alternative}", id="replace-no", variant="primary")
                yield Button(f"Replace {self.checkpoint}", id="replace-yes", variant="error")
                yield Button("Do not save", id="replace-cancel")
            yield Static("y replace · n save as new · escape do not save", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#replace-no", Button).focus()  # the safe choice is the default

    def action_answer(self, choice: str) -> None:
        self.dismiss(choice or None)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss({"replace-yes": "replace", "replace-no": "sibling"}.get(event.button.id or ""))
