"""``?``: a dialog saying what the view the focus is in shows and how to read it.

``open_explanation`` picks the topic (``workbench.explain.topic_for``: the innermost view with one
among the focused widget's ancestors, else the visible pane) and opens ``ExplainScreen`` on it; the
command palette's "Explain this view" calls it too. ``EXPLAIN_KEY`` is the App's ``?`` binding: it works
wherever the focus is not in a text field (an Input keeps the letters it is typed).
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import ModalScreen, Screen
from textual.widgets import Markdown, Static, TabbedContent

from workbench.explain import TOPICS, explanation, topic_for
from workbench.styles import SCREENS_CSS

#: Not in the footer: at 80 columns it would push Save and Load off it. F1, the palette and the Learn
#: pane's welcome name it instead.
EXPLAIN_KEY = Binding("question_mark", "explain", "Explain", key_display="?", show=False,
                      tooltip="What am I looking at? How to read the view the focus is in")


class ExplainScreen(ModalScreen[None]):
    """One topic's text; ``n`` / ``p`` page through the others, escape (or ?) closes."""

    CSS_PATH = SCREENS_CSS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close"),
        Binding("n", "other(1)", "Next topic"),
        Binding("p", "other(-1)", "Previous topic"),
    ]

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key

    def compose(self) -> ComposeResult:
        with Vertical(id="explain-dialog", classes="dialog"):
            yield Static("", id="explain-title", classes="dialog-title")
            with VerticalScroll(id="explain-scroll"):
                yield Markdown("", id="explain-body")
            yield Static("", id="explain-hint", classes="dialog-hint")

    def on_mount(self) -> None:
        self.show(self.key)
        self.query_one("#explain-scroll").focus()

    def show(self, key: str) -> None:
        self.key = key
        e = explanation(key)
        self.query_one("#explain-title", Static).update(e.title)
        self.query_one("#explain-body", Markdown).update(e.body)
        self.query_one("#explain-scroll", VerticalScroll).scroll_home(animate=False)
        n = TOPICS.index(key) + 1
        self.query_one("#explain-hint", Static).update(
            f"escape closes · ↑ ↓ scroll · n / p other topics ({n}/{len(TOPICS)})")

    @property
    def text(self) -> str:
        """The topic's Markdown (title and body), as shown."""
        e = explanation(self.key)
        return f"{e.title}\n{e.body}"

    def action_other(self, delta: int) -> None:
        self.show(TOPICS[(TOPICS.index(self.key) + delta) % len(TOPICS)])

    def action_dismiss(self, result: Any = None) -> None:  # type: ignore[override]
        self.dismiss(None)


def focused_topic(app: App[Any], screen: Screen[Any] | None = None) -> str:
    """The topic for the widget focused on ``screen`` (default: the app's current screen), in the pane
    the main screen shows."""
    screen = screen or app.screen
    focused = screen.focused
    ids = [node.id for node in focused.ancestors_with_self] if focused is not None else []
    try:
        pane = app.screen_stack[0].query_one("#panes", TabbedContent).active
    except NoMatches:
        pane = None
    return topic_for(ids, pane)


def open_explanation(app: App[Any], screen: Screen[Any] | None = None) -> None:
    """Open the explanation of the view the focus is in (not on top of another explanation)."""
    if isinstance(app.screen, ExplainScreen):
        return
    app.push_screen(ExplainScreen(focused_topic(app, screen)))

