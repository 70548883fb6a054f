"""Steering a run while it trains: a new learning rate, a pace, a run-until condition.

The bar reads and checks what is typed (``workbench.steering``) and posts what the user asked for as
a message; the App applies it to the run. It never touches the session.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, Select, Static

from core.errors import ConfigError
from core.train.run_until import RunUntil
from workbench.steering import UNTIL_KINDS, parse_pace, parse_until
from workbench.widgets.form import parse_float


class SteerBar(Vertical):
    class LearningRate(Message):
        def __init__(self, lr: float) -> None:
            super().__init__()
            self.lr = lr

    class Pace(Message):
        def __init__(self, pace: float | None) -> None:
            super().__init__()
            self.pace = pace

    class Until(Message):
        def __init__(self, until: RunUntil) -> None:
            super().__init__()
            self.until = until

    def compose(self) -> ComposeResult:
        with Grid(id="steer"):
            with Horizontal(classes="steer-item"):
                yield Label("lr ", classes="steer-label")
                yield Input(placeholder="e.g. 5e-4 ⏎", id="lr-input", compact=True,
                            tooltip="New learning rate from the next step on (Enter applies it)")
            with Horizontal(classes="steer-item"):
                yield Label("pace ", classes="steer-label")
                yield Input(placeholder="full speed", id="pace-input", compact=True,
                            tooltip="Steps per second, or empty for full speed (Enter applies it)")
            with Horizontal(classes="steer-item", id="until-item"):
                yield Label("until ", classes="steer-label")
                yield Select(UNTIL_KINDS, value="none", allow_blank=False, compact=True, id="until-kind")
                yield Input(placeholder="value ⏎", id="until-value", compact=True,
                            tooltip="Pause by itself once this is reached (Enter sets it)")
        yield Static("", id="steer-error")

    def show_error(self, message: str) -> None:
        widget = self.query_one("#steer-error", Static)
        widget.update(f"✗ {message}" if message else "")
        widget.display = bool(message)

    def request_lr(self, text: str) -> bool:
        try:
            lr = parse_float(text)
        except ValueError as exc:
            self.show_error(f"learning rate: {exc}")
            return False
        self.post_message(self.LearningRate(lr))
        return True

    def request_pace(self, text: str) -> bool:
        try:
            pace = parse_pace(text)
        except ConfigError as exc:
            self.show_error(str(exc))
            return False
        self.show_error("")
        self.post_message(self.Pace(pace))
        return True

    def request_until(self, kind: str, text: str) -> bool:
        try:
            until = parse_until(kind, text)
        except ConfigError as exc:
            self.show_error(str(exc))
            return False
        self.show_error("")
        self.post_message(self.Until(until))
        return True

    @on(Input.Submitted, "#lr-input")
    def _lr_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.request_lr(event.value)

    @on(Input.Submitted, "#pace-input")
    def _pace_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.request_pace(event.value)

    @on(Input.Submitted, "#until-value")
    def _until_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.request_until(str(self.query_one("#until-kind", Select).value), event.value)

    @on(Select.Changed, "#until-kind")
    def _until_kind_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.value == "none":
            self.request_until("none", "")
