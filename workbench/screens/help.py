"""F1: every key binding of the workbench, generated from the bindings themselves so it never drifts."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from workbench.styles import SCREENS_CSS

#: Keys that belong to widgets rather than to the app, listed so the help is complete.
GENERAL_KEYS: tuple[tuple[str, str], ...] = (
    ("?", "how to read the view the focus is in (outside text fields; ctrl+p: \"Explain\")"),
    ("tab / shift+tab", "move between fields and buttons"),
    ("enter", "press a button · apply lr / pace / until · open a choice list"),
    ("space", "toggle a checkbox"),
    ("← →", "switch chart (chart tabs focused) · move in a text field"),
    ("↑ ↓ pgup pgdn", "scroll tables and forms"),
    ("ctrl+p", "command palette: every action by name"),
    ("escape", "close this help, a dialog or the palette"),
    ("s / q (quit dialog)", "save & quit / quit without saving"),
)


def format_key(key: str) -> str:
    """``"f6,ctrl+r"`` → ``"F6, ctrl+r"``."""
    keys = (k.strip() for k in key.split(","))
    return ", ".join(k.upper() if re.fullmatch(r"f\d+", k) else k for k in keys)


def binding_rows(bindings: list[Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for b in bindings:
        if isinstance(b, Binding) and not b.system:
            rows.append((format_key(b.key), b.tooltip or b.description))
    return rows


class HelpScreen(ModalScreen[None]):
    """A modal table of every binding: the app's own (from ``App.BINDINGS``) and the general keys."""

    CSS_PATH = SCREENS_CSS
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,f1,q", "dismiss", "Close help")]

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog", classes="dialog"):
            yield Static("Keys — they work even while a text field has focus", classes="dialog-title")
            yield DataTable(id="help-table", cursor_type="row", zebra_stripes=True, show_header=True)
            yield Static("escape / F1 closes · ctrl+p opens the command palette", classes="dialog-hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("key", "action")
        for key, description in binding_rows(list(self.app.BINDINGS)):
            table.add_row(key, description)
        for key, description in GENERAL_KEYS:
            table.add_row(key, description)
        table.focus()

    def action_dismiss(self, result: Any = None) -> None:  # type: ignore[override]
        self.dismiss(None)
