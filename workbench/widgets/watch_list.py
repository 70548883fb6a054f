"""The watch list: a few pinned expressions whose answer and probability update live while the run trains.

A learner pins ``Max(3, 7, 2)`` and sees it go from wrong to right, and when. The pane takes a copy of the
model between two steps (``TrainingSession.request``), answers the pinned expressions on the copy in a
thread worker — never on the training model, never on the UI thread — and gives the answers back here
(``show``). Typing a pinned expression again unpins it.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static

from core.data.answer_format import format_answer
from core.data.expression import parse_expression
from core.data.task import TaskConfig
from core.errors import ExpressionError
from core.probe.inference import Prediction

MAX_PINS = 5
WATCH_INTERVAL = 1.0  # s between updates while the list is shown and has pins


def placeholder(task: TaskConfig) -> str:
    """The pin input's hint: an expression of ``task`` (the live run's), not always Max(3, 7, 2)."""
    return f"pin an expression to watch, e.g. {task.example_expression()} ⏎"


class WatchList(Vertical):
    """The pin input and one line per pinned expression."""

    DEFAULT_CSS = """
    WatchList { height: auto; }
    WatchList #watch-input { width: 1fr; }
    WatchList #watch-rows { height: auto; padding: 0 1; }
    """

    class Changed(Message):
        """The pins changed (the pane answers them at once)."""

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.pins: list[str] = []  # canonical texts, in the order pinned
        self.run_task: TaskConfig | None = None  # the task pins are checked against (the live run's)
        self.answers: dict[str, Prediction] = {}
        self.step: int | None = None
        self.right_since: dict[str, int | None] = {}  # the step since which each pin has been answered right
        self.note = ""  # the last entry's problem (a typo, too many pins), shown under the pins

    def compose(self) -> ComposeResult:
        yield Input(placeholder=placeholder(TaskConfig()), id="watch-input", compact=True)
        yield Static(Text("No pins: the answers of pinned expressions update here as the run trains.", style="dim"),
                     id="watch-rows")

    @on(Input.Submitted, "#watch-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text:
            return
        try:
            expr = parse_expression(text, self.run_task)
        except ExpressionError as exc:
            self.note = f"✗ {exc}"  # stays under the pins (live updates redraw them) until the next entry
            self.redraw()
            return
        canonical = str(expr)
        if canonical in self.pins:
            self.pins.remove(canonical)
            self.answers.pop(canonical, None)
        elif len(self.pins) >= MAX_PINS:
            self.note = f"At most {MAX_PINS} pins: type a pinned expression again to unpin it."
            self.redraw()
            return
        else:
            self.pins.append(canonical)
        self.note = ""
        event.input.value = ""
        self.redraw()
        self.post_message(self.Changed())

    def set_task(self, task: TaskConfig | None) -> None:
        """A new run: pins that do not fit its task are dropped (said on screen)."""
        self.run_task = task
        if task is None:
            return
        self.query_one("#watch-input", Input).placeholder = placeholder(task)  # an example this run can take
        kept, dropped = [], []
        for p in self.pins:
            try:
                kept.append(str(parse_expression(p, task)))
            except ExpressionError:
                dropped.append(p)
        self.pins, self.answers = kept, {}
        self.right_since = {p: None for p in kept}
        self.note = f"unpinned {', '.join(dropped)}: not part of this run's task" if dropped else ""
        self.redraw()

    def show(self, step: int, predictions: Sequence[Prediction]) -> None:
        """The answers at ``step`` (one per pin, in order)."""
        self.step = step
        for p in predictions:
            self.answers[p.text] = p
            if p.correct:
                if self.right_since.get(p.text) is None:
                    self.right_since[p.text] = step
            else:
                self.right_since[p.text] = None
        self.redraw()

    def redraw(self) -> None:
        rows = self.query_one("#watch-rows", Static)
        note = self.note
        if not self.pins:
            rows.update(Text(note, style="red" if note.startswith("✗") else "yellow") if note else
                        Text("No pins: the answers of pinned expressions update here as the run trains.", style="dim"))
            return
        text = Text(no_wrap=True, overflow="ellipsis")
        if self.step is not None:
            text.append(f"at step {self.step:,}\n", style="dim")
        width = max(len(p) for p in self.pins)
        for pin in self.pins:
            text.append(f"{pin:<{width}} ")
            p = self.answers.get(pin)
            if p is None:
                text.append("…\n", style="dim")
                continue
            if p.error:
                text.append(f"✗ {p.error}\n", style="red")
                continue
            prob = p.top[0][1] if p.top else 0.0
            answer = "no answer" if p.answer is None else format_answer(p.answer)
            text.append(f"→ {answer:>4} ", style="bold")
            text.append("✓" if p.correct else f"✗ (right: {format_answer(p.truth)})",
                        style="green" if p.correct else "red")
            text.append(f"  p {prob:.2f}", style="dim")
            since = self.right_since.get(pin)
            if p.correct and since is not None:
                text.append(f"  right since step {since:,}", style="dim")
            text.append("\n")
        if note:
            text.append("\n" + note, style="red" if note.startswith("✗") else "yellow")
        text.rstrip()
        rows.update(text)
