"""A live cell of a lesson: numbers computed from the learner's own model for an expression they type.

The widget only displays and asks: it shows the cell's title, an input holding the expression, the
computed result as text (``CellResult.text`` at the widget's width) and one button per related view.
Computing is the Learn pane's job (in a thread worker); the cell posts ``LiveCellView.Compute`` up and
is given its result with ``show_result`` or ``show_error`` ("attributes down, messages up").
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Input, Static

from core.probe.cell_table import Action, CellResult
from workbench.lessons import LiveCell

#: how a related view is named on its button
VIEW_LABELS = {"attention": "attention map", "inspector": "Inspector", "embeddings": "Inspector",
               "inference": "ask in Inference", "generation": "generate in Inference", "training": "Training",
               "logit_lens": "logit lens in Inference", "gradient_check": "gradient check in the Inspector"}


def action_label(action: Action) -> str:
    """"attention map · layer 0 head 1", "Inspector · blocks.0.attn.qkv.w", "Training · lr chart" …"""
    view, args = action
    if "param" in args:
        detail = str(args["param"])
    elif view == "attention":
        detail = f"layer {args.get('layer', 0)} head {args.get('head', 0)}"
    elif view == "training":
        detail = f"{args.get('chart', 'loss')} chart"
    elif view == "embeddings":
        detail = "embed.weight"
    else:
        detail = str(args.get("strategy", ""))
    label = VIEW_LABELS.get(view, view)
    return f"{label} · {detail}" if detail else label


class LiveCellView(Widget):
    """One ``live`` block of a lesson, recomputed when the expression is submitted or the model changes."""

    DEFAULT_CSS = """
    LiveCellView { height: auto; border: round $secondary; padding: 0 1; margin: 0 0 1 0; }
    LiveCellView:focus-within { border: heavy $secondary; }
    LiveCellView .cell-title { text-style: bold; }
    LiveCellView Input { width: 1fr; }
    LiveCellView #cell-row { height: auto; }
    LiveCellView .cell-result { height: auto; }
    LiveCellView .cell-actions { height: auto; }
    LiveCellView .cell-actions Button { margin-right: 1; min-width: 10; }
    """

    class Compute(Message):
        """Compute ``cell`` for ``expression`` on the pane's current model."""

        def __init__(self, view: LiveCellView, expression: str) -> None:
            super().__init__()
            self.view = view
            self.expression = expression

    class Open(Message):
        """The learner asked for the view related to this cell (``action`` = (view, arguments))."""

        def __init__(self, action: Action, expression: str) -> None:
            super().__init__()
            self.action = action
            self.expression = expression

    def __init__(self, cell: LiveCell) -> None:
        super().__init__()
        self.cell = cell
        self.result: CellResult | None = None
        self.error: str | None = None
        self._actions: dict[str, Action] = {}

    def compose(self) -> ComposeResult:
        yield Static(f"live · {self.cell.kind.replace('_', ' ')}", classes="cell-title")
        with Horizontal(id="cell-row"):
            yield Input(self.cell.expression, placeholder="an expression, e.g. Max(3, 7, 2)", compact=True,
                        tooltip="Type an expression and press Enter: the cell is recomputed on your model")
        yield Static("computing…", classes="cell-result")
        yield Horizontal(classes="cell-actions")

    def on_mount(self) -> None:
        self.request()

    @property
    def expression(self) -> str:
        return self.query_one(Input).value

    def request(self) -> None:
        """Ask the pane to (re)compute this cell."""
        self.query_one(".cell-result", Static).update(Text("computing…", style="dim"))
        self.post_message(self.Compute(self, self.expression))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.request()

    def show_result(self, result: CellResult) -> None:
        self.result, self.error = result, None
        width = max(40, self.content_size.width or 76)
        self.query_one(".cell-result", Static).update(Text(result.text(width)))
        row = self.query_one(".cell-actions", Horizontal)
        row.remove_children()
        self._actions = {}
        buttons = []
        for i, action in enumerate(result.actions[:4]):
            self._actions[f"act-{i}"] = action
            buttons.append(Button(action_label(action), id=f"act-{i}", compact=True))
        if buttons:
            row.mount_all(buttons)

    def show_error(self, message: str) -> None:
        self.result, self.error = None, message
        self.query_one(".cell-result", Static).update(Text(f"✗ {message}", style="red"))

    def shown_text(self) -> str:
        """What the result area shows (for tests)."""
        return str(self.query_one(".cell-result", Static).content)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        action = self._actions.get(event.button.id or "")
        if action is not None:
            event.stop()
            self.post_message(self.Open(action, self.expression))

