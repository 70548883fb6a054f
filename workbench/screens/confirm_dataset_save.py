"""Asking before a dataset save that needs the user's permission: outside the datasets folder, or
replacing a file that is already there.

The question names the resolved path (what would really be written, after ``..`` and symlinks), and
nothing is written unless the user answers yes: ``y`` (or the Save button) says yes, ``n``, ``escape``
or the Cancel button say no. The screen only returns the answer; the pane does the saving.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from core.data.dataset_file import SaveTarget
from workbench.styles import SCREENS_CSS


def _missing_folder(path: Path) -> Path | None:
    """The outermost folder on the way to ``path`` that does not exist (None: they all do)."""
    missing = None
    for folder in path.parents:
        try:
            if folder.exists():
                break
        except OSError:
            break
        missing = folder
    return missing


def save_question(target: SaveTarget) -> str:
    """The question for ``target`` in plain words (Textual-free, so it can be tested on its own)."""
    lines: list[str] = []
    if not target.inside:
        lines.append(f"{target.path} is outside your datasets folder {target.folder}.")
    if target.exists:
        lines.append(f"{target.path} already exists: saving replaces that dataset file.")
    missing = _missing_folder(target.path)
    if missing is not None:
        lines.append(f"The folder {missing} does not exist yet: saving creates it.")
    if not target.inside and target.exists:
        lines.append("Save there, replacing it?")
    elif target.exists:
        lines.append("Replace it?")
    else:
        lines.append("Save there?")
    return "\n".join(lines)


class ConfirmDatasetSaveScreen(ModalScreen[bool]):
    """Returns True when the user said yes, False otherwise."""

    CSS_PATH = SCREENS_CSS
    DEFAULT_CSS = """
    ConfirmDatasetSaveScreen { align: center middle; }
    #confirm-dataset-dialog { max-width: 76; }
    #confirm-dataset-question { height: auto; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Save"),
        Binding("n", "answer(False)", "Cancel"),
        Binding("escape", "answer(False)", "Cancel"),
    ]

    def __init__(self, target: SaveTarget) -> None:
        super().__init__()
        self.target = target

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dataset-dialog", classes="dialog"):
            yield Static("Save the dataset?", classes="dialog-title")
            yield Static(save_question(self.target), id="confirm-dataset-question", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", id="confirm-dataset-yes", variant="warning")
                yield Button("Cancel", id="confirm-dataset-no", variant="primary")
            yield Static("y save · n / escape cancel", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#confirm-dataset-no", Button).focus()  # Enter on the default answer writes nothing

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-dataset-yes")
