"""Steering a run while it trains: a new learning rate, a pace, a run-until condition.

The bar reads and checks what is typed (``workbench.steering``) and posts what the user asked for as
a message; the App applies it to the run. It never touches the session. The line under it says what
the focused control does (tooltips alone are invisible from the keyboard).

The until widget starts at ``DEFAULT_UNTIL`` (val acc ≥ 99%), posted when the bar is mounted, and a
new run built from the settings gets it back (``new_run``) once a met condition was cleared — unless
the user chose "no condition". A loaded checkpoint is not a new run: it drops the untouched default.
A condition the user chose stays in force for the next run too, and the new run says so (never
silently). The widget always shows the condition in force: choosing a kind applies it with the value
already typed (or drops the old condition if that value does not fit the kind), and a value typed and
left with Tab is applied as if Enter had been pressed. Choosing never moves the focus by itself.
"""

from __future__ import annotations

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static

from core.errors import ConfigError
from core.train.run_until import RunUntil
from workbench.steering import (
    DEFAULT_UNTIL,
    UNTIL_KINDS,
    UNTIL_PLACEHOLDER,
    WATCH_PACE,
    default_until,
    describe_until,
    parse_pace,
    parse_until,
)
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

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.user_cleared = False  # the user chose "no condition": new runs get none either
        self.default_in_force = True  # the condition in force is the untouched DEFAULT_UNTIL
        self.applied: tuple[str, str] = DEFAULT_UNTIL  # (kind, value text) of the condition last posted
        self.in_force = default_until()  # the condition last posted

    def compose(self) -> ComposeResult:
        kind, value = DEFAULT_UNTIL
        with Grid(id="steer"):
            with Horizontal(classes="steer-item"):
                yield Label("lr ", classes="steer-label")
                yield Input(placeholder="e.g. 5e-4 ⏎", id="lr-input", compact=True,
                            tooltip="New learning rate from the next step on (Enter applies it)")
            with Horizontal(classes="steer-item"):
                yield Label("pace ", classes="steer-label")
                yield Input(placeholder="full speed", id="pace-input", compact=True,
                            tooltip="Steps per second (Enter applies it); empty = full speed, watch = "
                                    f"{WATCH_PACE:g}/s")
                yield Button("Watch", id="pace-watch", compact=True,
                             tooltip=f"Watch: {WATCH_PACE:g} steps per second, slow enough to see the charts move")
            with Horizontal(classes="steer-item", id="until-item"):
                yield Label("until ", classes="steer-label")
                yield Select(UNTIL_KINDS, value=kind, allow_blank=False, compact=True, id="until-kind",
                             tooltip="Pause by itself once this holds; a new run starts with val acc ≥ 99%")
                yield Input(value, placeholder="value ⏎", id="until-value", compact=True,
                            tooltip="Pause by itself once this is reached (Enter sets it)")
        yield Static("", id="steer-help", markup=False)
        yield Static("", id="steer-error")

    def on_mount(self) -> None:
        self.post_message(self.Until(default_until()))

    # -- what the focused control does --------------------------------------------------------------------
    def _on_descendant_focus(self, event: events.DescendantFocus) -> None:
        node: Widget | None = event.widget
        tip = ""
        while node is not None and node is not self and not tip:
            tip = str(node.tooltip or "")
            node = node.parent if isinstance(node.parent, Widget) else None
        help_line = self.query_one("#steer-help", Static)
        help_line.update(tip)
        help_line.display = bool(tip)

    def _on_descendant_blur(self, event: events.DescendantBlur) -> None:
        self.query_one("#steer-help", Static).display = False

    # -- the run-until condition of new runs ----------------------------------------------------------
    def show_until(self, kind: str, text: str) -> None:
        """Show a condition in the until widget without applying it."""
        with self.prevent(Select.Changed):
            self.query_one("#until-kind", Select).value = kind
        self.query_one("#until-value", Input).value = text
        self.applied = (kind, text)
        self._placeholder(kind)

    def _placeholder(self, kind: str) -> None:
        self.query_one("#until-value", Input).placeholder = UNTIL_PLACEHOLDER.get(kind, "value ⏎")

    def _post_until(self, until: RunUntil) -> None:
        self.in_force = until
        self.post_message(self.Until(until))

    def until_cleared(self) -> None:
        """A met condition was cleared by the run."""
        self.show_until("none", "")
        self.in_force = RunUntil()
        self.default_in_force = False

    def new_run(self, loaded: bool, until: RunUntil, first: bool = False) -> None:
        """A new session: ``loaded`` from a checkpoint or built from the settings; ``until`` the condition
        in force for it; ``first`` when no run came before it. A built run gets the default back if none
        is (and the user did not choose "no condition"); a loaded one drops the untouched default. A
        condition the user chose carries on into the new run, and the user is told so."""
        if loaded and self.default_in_force and until.active:
            self.show_until("none", "")
            self.default_in_force = False
            self._post_until(RunUntil())
        elif not loaded and not until.active and not self.user_cleared:
            self.show_until(*DEFAULT_UNTIL)
            self.default_in_force = True
            self._post_until(default_until())
        elif until.active and not self.default_in_force and not first:
            self.app.notify(f"This run too pauses by itself {describe_until(until)}: the run-until condition "
                            "set earlier still applies (choose “no condition” to drop it).",
                            title="Run-until carried over", timeout=6)

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
        self.user_cleared, self.default_in_force = not until.active, False
        self.applied = (kind, text.strip())
        self._post_until(until)
        return True

    @on(Input.Submitted, "#lr-input")
    def _lr_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.request_lr(event.value)

    @on(Input.Submitted, "#pace-input")
    def _pace_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.request_pace(event.value)

    @on(Button.Pressed, "#pace-watch")
    def _watch_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.request_pace("watch")

    @on(Input.Submitted, "#until-value")
    def _until_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.request_until(str(self.query_one("#until-kind", Select).value), event.value)

    @on(Input.Blurred, "#until-value")
    def _until_left(self, event: Input.Blurred) -> None:
        """Tab out of the value applies it, as Enter does: a typed value is never silently lost."""
        event.stop()
        kind = str(self.query_one("#until-kind", Select).value)
        if kind != "none" and (kind, event.value.strip()) != self.applied:
            self.request_until(kind, event.value)

    @on(Select.Changed, "#until-kind")
    def _until_kind_changed(self, event: Select.Changed) -> None:
        """A kind chosen applies at once with a value already typed for it; the previous condition's value
        is cleared instead (``99%`` is no loss), the old condition dropped — the widget never shows one
        that is not in force — and the line under the bar asks for a value. The focus stays put."""
        event.stop()
        kind = str(event.value)
        if kind == self.applied[0]:
            return  # the kind in force (the Select also says so once when mounted)
        self._placeholder(kind)
        field = self.query_one("#until-value", Input)
        if kind == "none":
            field.value = ""
            self.request_until("none", "")
            return
        if field.value.strip() == self.applied[1]:  # the old condition's value, not one typed for this kind
            field.value = ""
            label = {k: lbl for lbl, k in UNTIL_KINDS}.get(kind, kind)
            self.default_in_force = False
            self.applied = (kind, "")
            if self.in_force.active:
                self._post_until(RunUntil())
            self.show_error(f"type a value for “until {label}” and press Enter (no condition until then)")
            return
        if not self.request_until(kind, field.value):  # the reason is shown; the old condition goes
            self.default_in_force = False
            self.applied = (kind, "")
            if self.in_force.active:
                self._post_until(RunUntil())
