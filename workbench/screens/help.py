"""F1: every key of the workbench, generated from the bindings themselves so it never drifts.

The list has one section per place a key works: everywhere (the App's bindings and the keys of the
standard widgets), then each pane, the Trace view and the dialogs — each built from that class's
``BINDINGS`` plus the few keys a widget handles itself (Enter on a mistake, in the console, …). The
list has the focus and scrolls (↑↓, pgup/pgdn, home/end): at 80×24 the whole list never fits, and
the dialog is sized so its title and closing hint always stay on screen.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from workbench.styles import SCREENS_CSS

#: Keys that belong to widgets rather than to the app, listed so the help is complete.
GENERAL_KEYS: tuple[tuple[str, str], ...] = (
    ("tab / shift+tab", "move between fields and buttons"),
    ("enter", "press a button · apply a field · open a choice list"),
    ("space", "toggle a checkbox"),
    ("← →", "switch chart (chart tabs focused) · move in a text field"),
    ("↑ ↓ pgup pgdn", "scroll tables and forms"),
    ("ctrl+p", "command palette: every action by name"),
    ("escape", "close this help, a dialog or the palette"),
)

#: Keys handled by a pane's widgets without a binding of their own, per section title.
EXTRA_KEYS: dict[str, tuple[tuple[str, str], ...]] = {
    "Learn pane (F10)": (
        ("enter (live cell)", "compute the cell's expression on the lesson's model"),
        ("enter (exercise)", "check your answer against the model"),
    ),
    "Dataset pane (F2)": (
        ("enter (a form field)", "generate the dataset the form describes"),
        ("enter (path field)", "load the dataset file there if it exists, else save the dataset there"),
        ("↑ ↓ pgup pgdn", "samples table (focused): move through the page's examples"),
        ("ctrl+home ctrl+end", "samples table: first / last row of the page (home / end: scroll sideways)"),
        ("↑ ↓ pgup pgdn", "the right column (focused): scroll to the histograms"),
    ),
    "Training pane (F3)": (
        ("enter (lr field)", "the new learning rate from the next step on"),
        ("enter (pace field)", "steps per second (empty: full speed, watch: slow)"),
        ("enter (until value)", "pause by itself once the condition holds"),
        ("← → (chart tabs)", "loss, accuracy, per operation, learning rate, gradient norm"),
    ),
    "Inference pane (F4)": (
        ("enter (input)", "answer the expression (several: separate with ;)"),
    ),
    "Inspector pane (F5)": (
        ("↑ ↓ (tree)", "highlight a parameter: its statistics, histogram and heatmap"),
        ("enter (a mistake)", "open the mistake in the Inference console, on the same model"),
        ("enter (counterexamples)", "a weak region: its failing examples; a failing example: open it"),
    ),
}


def format_key(key: str, key_display: str | None = None) -> str:
    """``"f6,ctrl+r"`` → ``"F6, ctrl+r"``; a binding's own ``key_display`` (``?``) wins."""
    if key_display:
        return key_display
    names = {"question_mark": "?", "slash": "/", "pagedown": "pgdn", "pageup": "pgup", "up": "↑", "down": "↓",
             "left": "←", "right": "→"}
    keys = (k.strip() for k in key.split(","))
    return ", ".join(k.upper() if re.fullmatch(r"f\d+", k) else names.get(k, k) for k in keys)


def binding_rows(bindings: Iterable[Any]) -> list[tuple[str, str]]:
    """(key, what it does) for each ``Binding`` (not system ones), in order."""
    rows: list[tuple[str, str]] = []
    for b in bindings:
        if isinstance(b, Binding) and not b.system:
            rows.append((format_key(b.key, b.key_display), b.tooltip or b.description))
    return rows


def help_sections(app_bindings: Sequence[Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    """Every section of the help: (title, rows). Imported late: the panes import screens themselves."""
    from workbench.panes.dataset import SampleTable
    from workbench.panes.inference import InferencePane
    from workbench.panes.inspector import InspectorPane
    from workbench.panes.lab import LabPane
    from workbench.panes.learn import LearnPane
    from workbench.screens import quit as quit_dialogs
    from workbench.screens.confirm_dataset_save import ConfirmDatasetSaveScreen
    from workbench.screens.confirm_replace import ConfirmReplaceScreen
    from workbench.screens.explain import ExplainScreen
    from workbench.screens.quit import QuitScreen
    from workbench.screens.trace import TraceScreen
    from workbench.widgets.attention_map import AttentionMap
    from workbench.widgets.console_input import ConsoleInput

    def dialog(name: str, screen: Any) -> list[tuple[str, str]]:
        bindings = getattr(screen, "BINDINGS", ())
        return [(key, f"{name}: {what}") for key, what in binding_rows(bindings)]

    def pane(title: str, *bindings: tuple[str, Iterable[Any]]) -> tuple[str, list[tuple[str, str]]]:
        rows: list[tuple[str, str]] = []
        for where, group in bindings:
            rows += [(f"{key} ({where})" if where else key, what) for key, what in binding_rows(group)]
        return title, rows + list(EXTRA_KEYS.get(title, ()))

    return [
        ("Everywhere", binding_rows(app_bindings) + list(GENERAL_KEYS)),
        pane("Learn pane (F10)", ("", LearnPane.BINDINGS)),
        pane("Dataset pane (F2)", ("samples", SampleTable.BINDINGS)),
        pane("Training pane (F3)"),
        pane("Inference pane (F4)", ("", InferencePane.BINDINGS), ("input", ConsoleInput.BINDINGS),
             ("attention", AttentionMap.BINDINGS)),
        pane("Inspector pane (F5)", ("", InspectorPane.BINDINGS)),
        pane("Lab pane (F11)", ("", LabPane.BINDINGS)),
        ("Trace view (F12)", binding_rows(TraceScreen.BINDINGS)),
        ("Dialogs", dialog("quit", QuitScreen)
         + dialog("new run over an unsaved one", getattr(quit_dialogs, "NewRunScreen", None))
         + dialog("save over a better model", ConfirmReplaceScreen)
         + dialog("save a dataset", ConfirmDatasetSaveScreen) + dialog("explain", ExplainScreen)),
    ]


class HelpScreen(ModalScreen[None]):
    """A modal, scrollable list of every key, by section (a rich table in a focused scroll view, so long
    descriptions wrap instead of being cut at 80 columns)."""

    CSS_PATH = SCREENS_CSS
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,f1,q", "dismiss", "Close help")]

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[tuple[str, list[tuple[str, str]]]] = []

    def compose(self) -> ComposeResult:
        dialog = Vertical(id="help-dialog", classes="dialog")
        scroll = VerticalScroll(id="help-scroll")
        # Inline, so they beat the shared dialog rule (height: auto): the dialog takes 95% of the screen
        # and the list the rest of it, scrolling, so the title and the closing hint stay on screen at 80x24.
        dialog.styles.height = "95%"
        scroll.styles.height = "1fr"
        scroll.styles.scrollbar_size_vertical = 1
        with dialog:
            yield Static("Keys — F-keys and ctrl keys work even while a text field has focus",
                         classes="dialog-title")
            with scroll:
                yield Static("", id="help-keys")
            yield Static("↑↓ pgup pgdn home end scroll · escape / F1 close · ctrl+p palette",
                         id="help-hint", classes="dialog-hint")

    def on_mount(self) -> None:
        self.sections = help_sections(list(self.app.BINDINGS))
        table = Table(box=None, show_header=False, expand=True, padding=(0, 1, 0, 0))
        table.add_column("key", style="bold", max_width=28)
        table.add_column("action", ratio=1)
        for i, (title, rows) in enumerate(self.sections):
            if i:
                table.add_row("", "")
            table.add_row(Text(title, style="bold underline"), "")
            for key, description in rows:
                table.add_row(Text(key), Text(description))
        self.query_one("#help-keys", Static).update(table)
        self.query_one("#help-scroll", VerticalScroll).focus()

    def rows(self) -> list[tuple[str, str]]:
        """Every (key, action) row, sections in order (for tests)."""
        return [row for _, rows in self.sections for row in rows]

    def action_dismiss(self, result: Any = None) -> None:  # type: ignore[override]
        self.dismiss(None)
