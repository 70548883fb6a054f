"""An exercise of a lesson: the learner answers, the workbench measures the model and compares.

The widget shows the question, an input for the answer (for a choice, the numbered options), and the
verdict once the Learn pane has checked it (``show_verdict``): ✓ or ✗, what was measured on the model,
and why. Checking may run the model or even a short training run, so the pane does it in a worker;
the widget only posts ``ExerciseView.Answered`` up.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Static

from core.probe.exercises import Verdict
from workbench.lessons import Exercise

PLACEHOLDERS = {"number": "a number, e.g. 2.3", "yesno": "yes or no", "head": "layer.head, e.g. 0.1",
                "choice": "the option's number"}


class ExerciseView(Widget):
    """One ``exercise`` block: question, answer input, verdict."""

    DEFAULT_CSS = """
    ExerciseView { height: auto; border: round $accent; padding: 0 1; margin: 0 0 1 0; }
    ExerciseView .ex-question { text-style: bold; }
    ExerciseView .ex-verdict { height: auto; }
    ExerciseView.-solved { border: round $success; }
    ExerciseView:focus-within { border: heavy $accent; }
    ExerciseView.-solved:focus-within { border: heavy $success; }
    """

    class Answered(Message):
        def __init__(self, view: ExerciseView, answer: str) -> None:
            super().__init__()
            self.view = view
            self.answer = answer

    def __init__(self, exercise: Exercise, solved: bool = False) -> None:
        super().__init__()
        self.exercise = exercise
        self.verdict: Verdict | None = None
        self.set_class(solved, "-solved")

    def compose(self) -> ComposeResult:
        ex = self.exercise
        mark = "✓ " if self.has_class("-solved") else ""
        yield Static(f"{mark}? {ex.question}", classes="ex-question")
        if ex.options:
            yield Static("\n".join(f"  {i}. {option}" for i, option in enumerate(ex.options, 1)))
        yield Input(placeholder=PLACEHOLDERS.get(ex.answer_kind, "your answer"), compact=True,
                    tooltip="Type your answer and press Enter: it is checked against the model")
        hint = f"hint: {ex.hint}" if ex.hint else ""
        yield Static(Text(hint, style="dim"), classes="ex-verdict")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value.strip():
            self.query_one(".ex-verdict", Static).update(Text("type an answer first", style="yellow"))
            return
        self.query_one(".ex-verdict", Static).update(Text("checking against the model…", style="dim"))
        self.post_message(self.Answered(self, event.value))

    def show_verdict(self, verdict: Verdict) -> None:
        self.verdict = verdict
        if not verdict.understood:
            text = Text(f"? {verdict.explanation}", style="yellow")
        elif not verdict.applies:
            text = Text(f"– {verdict.explanation}", style="dim")
        else:
            mark, style = ("✓ right", "green") if verdict.correct else ("✗ not quite", "red")
            text = Text.assemble((mark, f"bold {style}"), f" · measured: {verdict.measured}\n{verdict.explanation}")
            if verdict.correct:
                self.add_class("-solved")
        self.query_one(".ex-verdict", Static).update(text)

    def show_error(self, message: str) -> None:
        self.query_one(".ex-verdict", Static).update(Text(f"✗ {message}", style="red"))

    def shown_text(self) -> str:
        return str(self.query_one(".ex-verdict", Static).content)
