"""The Trace view: a step debugger of one example — forward, loss, backward, optimizer update.

``TraceScreen(source, model, expression)`` fills the screen ("Trace · MODEL · EXPR"), computes the trace
in a thread worker ("tracing…"; any failure one line) and pages through ``Trace.pages()``: the stage list
on the left (hidden at 80 columns; ``s`` shows it), the current stage on the right — title, formula,
shape and axes, note and its values as tables labelled with the tokens where the axes say so. A backward
stage also shows its upstream gradient, rule, gradients out and parameter gradients, and ``c`` runs its
own finite-difference check in a worker (✓ below 1e-6). The update pages follow one parameter through the
optimizer (``p`` picks another one). The text itself is ``workbench.widgets.trace_text``.

Keys: → l j next · ← h k previous · home / end · f forward · b backward · u update · / jump to a stage
name prefix (Enter; n finds the next match) · ↑ ↓ pgup pgdn scroll · escape closes. Nothing on the screen
takes focus except the line the jump or parameter name is typed in, so single letters are keys here.

How it opens: ``open_trace(app, source, choice, expression)``; the Learn and Inference panes call it
(``lesson_expression`` and ``inference_expression`` say which expression), and so does the command
palette's "Trace: this expression" (``open_trace_here``: the pane showing, or Inference).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from core.errors import LLMLearnError
from core.probe.trace import Trace
from workbench.model_source import CHECKPOINT_PREFIX, LIVE, ModelSource
from workbench.styles import STYLES
from workbench.widgets.footer import WorkbenchFooter
from workbench.widgets.trace_text import (
    CHECK_ELEMENTS,
    SECTION_TITLE,
    compute_trace,
    page_labels,
    section_start,
    stage_text,
    trace_context,
    trace_header,
)

if TYPE_CHECKING:
    from workbench.panes.inference import InferencePane
    from workbench.panes.learn import LearnPane

DEFAULT_EXPRESSION = "Max(3, 7, 2)"


class StageList(OptionList, can_focus=False):
    """The pages, by section; the current one highlighted. Clicking one shows it (never takes focus)."""


class StageView(VerticalScroll, can_focus=False):
    """The current stage; scrolled by the screen's keys. Says when its width changes (the tables fit it)."""

    class Resized(Message):
        pass

    def on_resize(self, event: events.Resize) -> None:
        self.post_message(self.Resized())


class TraceScreen(Screen[None]):
    """Step through the trace of ``expression`` on the model of ``source`` (``model``: its name)."""

    CSS_PATH = STYLES / "trace.tcss"
    AUTO_FOCUS = None  # nothing takes focus: single letters are this screen's keys
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", tooltip="Close the trace (escape again: also a jump in progress)"),
        Binding("right,l,j", "move(1)", "Next", tooltip="Next stage"),
        Binding("left,h,k", "move(-1)", "Prev", tooltip="Previous stage"),
        Binding("slash", "jump", "Jump", tooltip="Jump to the first stage whose name starts with what you type"),
        Binding("c", "check", "Check", tooltip="Finite-difference check of this backward stage alone"),
        Binding("f", "section('forward')", "Fwd", tooltip="The first forward stage"),
        Binding("b", "section('backward')", "Back", tooltip="The first backward stage"),
        Binding("u", "section('update')", "Update", tooltip="The optimizer update of one parameter"),
        Binding("p", "param", "Param", tooltip="Trace the update of another parameter"),
        Binding("n", "jump_again", "Next match", show=False),
        Binding("s", "toggle_list", "Stages", show=False, tooltip="Show or hide the stage list"),
        Binding("home", "go(0)", "First", show=False),
        Binding("end", "go(-1)", "Last", show=False),
        Binding("down", "scroll(1)", "Scroll", show=False),
        Binding("up", "scroll(-1)", "Scroll", show=False),
        Binding("pagedown,space", "scroll(10)", "Page", show=False),
        Binding("pageup", "scroll(-10)", "Page", show=False),
    ]

    def __init__(self, source: ModelSource, model: str, expression: str, param: str | None = None) -> None:
        super().__init__()
        self.source = source
        self.model_name = model
        self.expression = expression
        self.param = param
        self.trace: Trace | None = None
        self.index = 0
        self.error: str | None = None
        self.checks: dict[int, str | float] = {}  # page → error of its check, or "running…" / why it failed
        self._prefix = ""
        self._asking = ""  # "jump" or "param" while the input line is open
        self.pending = 0

    # -- layout -------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(Text(f"Trace · {self.model_name} · {self.expression}", style="bold"), id="trace-title")
        yield Static("", id="trace-context")
        yield Static(Text("tracing…", style="dim"), id="trace-status")
        with Horizontal(id="trace-body"):
            yield StageList(id="trace-stages")
            with StageView(id="trace-view"):
                yield Static("", id="trace-stage")
        yield Input(id="trace-ask", compact=True, disabled=True)
        yield WorkbenchFooter(compact=True)

    def on_mount(self) -> None:
        self._start_trace()

    @on(StageView.Resized)
    def _view_resized(self) -> None:
        self._show_stage()

    @property
    def idle(self) -> bool:
        return self.pending == 0

    def stage_plain(self) -> str:
        """What the stage panel shows, as plain text (for tests)."""
        content = self.query_one("#trace-stage", Static).content
        return content.plain if isinstance(content, Text) else str(content)

    def status_plain(self) -> str:
        content = self.query_one("#trace-status", Static).content
        return content.plain if isinstance(content, Text) else str(content)

    # -- computing ----------------------------------------------------------------------------------
    def _start_trace(self) -> None:
        self.pending += 1
        self._status("tracing…", "dim")
        self._trace_worker(self.source, self.expression, self.param)

    @work(thread=True, exclusive=True, group="trace", exit_on_error=False)
    def _trace_worker(self, source: ModelSource, text: str, param: str | None) -> None:
        try:
            result: Trace | str = compute_trace(source, text, param)
        except LLMLearnError as exc:
            result = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        except Exception as exc:  # a bug must not end the app: one line, with its type
            result = f"{type(exc).__name__}: {exc}".splitlines()[0]
        with contextlib.suppress(RuntimeError):  # the app is closing
            self.app.call_from_thread(self._traced, result, param)

    def _traced(self, result: Trace | str, param: str | None) -> None:
        self.pending = max(0, self.pending - 1)
        if not self.is_attached:
            return
        if isinstance(result, str):
            if self.trace is not None and param != self.param:  # a bad parameter name: keep the old trace
                self._status(f"✗ {result}", "red")
                return
            self.error = result
            self.add_class("-failed")
            self._status(f"✗ {result}", "red")
            self.query_one("#trace-stage", Static).update(
                Text("Nothing to show: the trace failed (the line above says why). escape closes.", style="dim"))
            return
        keep = self.trace.pages()[self.index][1].name if self.trace is not None else None
        self.trace, self.param, self.error, self.checks = result, param, None, {}
        self.remove_class("-failed")
        self.query_one("#trace-title", Static).update(Text(trace_header(result, self.model_name), style="bold",
                                                           no_wrap=True, overflow="ellipsis"))
        self.query_one("#trace-context", Static).update(trace_context(result))
        self._fill_list()
        if keep is not None and keep.startswith("update."):
            found = result.find(keep)
            self.index = found if found is not None else 0
        else:
            self.index = min(self.index, len(result.pages()) - 1)
        self._status(self._help_line(), "dim")
        self._show_stage()

    def _help_line(self) -> str:
        return "→ ← stages · / jump to a name · c check · f b u sections · p parameter · s list · esc"

    # -- showing ------------------------------------------------------------------------------------
    def _status(self, text: str, style: str = "") -> None:
        self.query_one("#trace-status", Static).update(Text(text, style=style, no_wrap=True, overflow="ellipsis"))

    def _fill_list(self) -> None:
        assert self.trace is not None
        stages = self.query_one("#trace-stages", StageList)
        stages.clear_options()
        options: list[Option | None] = []
        section = ""
        for i, ((sec, stage), label) in enumerate(zip(self.trace.pages(), page_labels(self.trace), strict=True)):
            if sec != section:
                section = sec
                options.append(Option(Text(f"── {SECTION_TITLE[sec]}", style="bold"), disabled=True))
            options.append(Option(f"{label:>4} {stage.name}", id=f"page-{i}"))
        stages.add_options(options)

    def _show_stage(self) -> None:
        if self.trace is None or not self.is_mounted:
            return
        view = self.query_one("#trace-view", StageView)
        width = (view.size.width or self.size.width or 80) - 2  # its left padding and the scrollbar
        text = stage_text(self.trace, self.index, width, self.checks.get(self.index))
        self.query_one("#trace-stage", Static).update(text)
        stages = self.query_one("#trace-stages", StageList)
        with contextlib.suppress(Exception):  # the list may be refilling
            stages.highlighted = stages.get_option_index(f"page-{self.index}")

    def go(self, index: int) -> None:
        """Show page ``index`` of ``Trace.pages()`` (negative counts from the end)."""
        if self.trace is None:
            return
        n = len(self.trace.pages())
        self.index = max(0, min(n - 1, index if index >= 0 else n + index))
        self.query_one("#trace-view", StageView).scroll_home(animate=False)
        self._show_stage()

    @on(OptionList.OptionSelected, "#trace-stages")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option_id and event.option_id.startswith("page-"):
            self.go(int(event.option_id.removeprefix("page-")))

    # -- actions ------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (self._asking and action != "close")  # the input line has the keys (letters, arrows…)

    def action_close(self) -> None:
        if self._asking:
            self._close_ask()
            return
        self.dismiss(None)

    def action_move(self, delta: int) -> None:
        self.go(max(0, self.index + delta))  # (a negative index would count from the end)

    def action_go(self, index: int) -> None:
        self.go(index)

    def action_section(self, section: str) -> None:
        if self.trace is None:
            return
        start = section_start(self.trace, section)
        if start is None:
            self._status(f"this trace has no {section} stages", "yellow")
            return
        self.go(start)

    def action_scroll(self, lines: int) -> None:
        view = self.query_one("#trace-view", StageView)
        view.scroll_relative(y=lines, animate=False)

    def action_toggle_list(self) -> None:
        self.toggle_class("-show-list")
        self.call_after_refresh(self._show_stage)

    def action_check(self) -> None:
        if self.trace is None:
            return
        section, stage = self.trace.pages()[self.index]
        if not stage.checkable:
            self._status(f"c checks a backward stage's gradient; this is a {section} stage (b: the backward pass)",
                         "yellow")
            return
        if self.checks.get(self.index) == "running…":
            return
        self.checks[self.index] = "running…"
        self.pending += 1
        self._show_stage()
        self._check_worker(self.trace, self.index)

    @work(thread=True, group="check", exit_on_error=False)
    def _check_worker(self, trace: Trace, index: int) -> None:
        stage = trace.pages()[index][1]
        try:
            result: str | float = stage.check(CHECK_ELEMENTS)
        except Exception as exc:  # one line, never a traceback
            result = f"✗ the check failed: {type(exc).__name__}: {exc}".splitlines()[0]
        with contextlib.suppress(RuntimeError):
            self.app.call_from_thread(self._checked, trace, index, result)

    def _checked(self, trace: Trace, index: int, result: str | float) -> None:
        self.pending = max(0, self.pending - 1)
        if trace is not self.trace or not self.is_attached:
            return
        self.checks[index] = result
        if index == self.index:
            self._show_stage()

    # -- the input line: jump to a stage, or another parameter --------------------------------------
    def action_jump(self) -> None:
        if self.trace is not None:
            self._ask("jump", "stage name prefix, e.g. blocks.1.attn — Enter jumps, escape cancels")

    def action_param(self) -> None:
        if self.trace is not None:
            self._ask("param", "parameter whose update to show, e.g. head.w — Enter traces it, escape cancels")

    def _ask(self, mode: str, placeholder: str) -> None:
        ask = self.query_one("#trace-ask", Input)
        self._asking = mode
        ask.value = self._prefix if mode == "jump" else (self.param or "")
        ask.placeholder = placeholder
        ask.disabled = False
        ask.add_class("-open")
        ask.focus()
        self.refresh_bindings()

    def _close_ask(self) -> None:
        self._asking = ""
        ask = self.query_one("#trace-ask", Input)
        ask.remove_class("-open")
        ask.disabled = True
        self.set_focus(None)
        self.refresh_bindings()

    @on(Input.Submitted, "#trace-ask")
    def _asked(self, event: Input.Submitted) -> None:
        event.stop()
        mode, text = self._asking, event.value.strip()
        self._close_ask()
        if mode == "jump":
            self._prefix = text
            self._find(text, self.index)
        elif mode == "param" and text:
            self.pending += 1
            self._status(f"tracing the update of {text}…", "dim")
            self._trace_worker(self.source, self.expression, text)

    def action_jump_again(self) -> None:
        if self._prefix:
            self._find(self._prefix, self.index + 1)
        else:
            self.action_jump()

    def _find(self, prefix: str, start: int) -> None:
        if self.trace is None or not prefix:
            return
        found = self.trace.find(prefix, start)
        if found is None:
            found = self.trace.find(prefix, 0)
        if found is None:
            self._status(f"✗ no stage name starts with {prefix!r} (names look like blocks.0.attn.scores)", "red")
            return
        self._status(f"{prefix!r}: n finds the next stage that starts so", "dim")
        self.go(found)


# -- opening it ---------------------------------------------------------------------------------------
def model_label(choice: str) -> str:
    return "live run" if choice == LIVE else choice.removeprefix(CHECKPOINT_PREFIX)


def open_trace(app: App[Any], source: ModelSource, choice: str, expression: str) -> None:
    """Open the Trace view of ``expression`` on the model ``choice`` names (unless one is already open)."""
    if any(isinstance(screen, TraceScreen) for screen in app.screen_stack):
        return
    app.push_screen(TraceScreen(source, model_label(choice), expression.strip() or DEFAULT_EXPRESSION))


def lesson_expression(pane: LearnPane) -> str:
    """The Learn pane's expression: that of the live cell holding the focus, else of the last cell the
    learner changed, else ``Max(3, 7, 2)``."""
    from workbench.widgets.live_cell import LiveCellView

    focused = pane.screen.focused
    for node in focused.ancestors_with_self if focused is not None else ():
        if isinstance(node, LiveCellView):
            return node.expression
    edited = [v.expression for v in pane.query(LiveCellView) if v.expression.strip() != v.cell.expression.strip()]
    return edited[-1] if edited else DEFAULT_EXPRESSION


def inference_expression(pane: InferencePane) -> str:
    """The Inference pane's expression: the one typed in its input (the first, if several), else the
    latest answered one, else ``Max(3, 7, 2)``."""
    from core.probe.answers import split_inputs

    typed = split_inputs(pane.input.value)
    if typed:
        return typed[0]
    answered = [r.text for r in pane.results if r.error is None and r.text]
    return answered[-1] if answered else DEFAULT_EXPRESSION


def open_trace_here(app: App[Any]) -> None:
    """The palette's "Trace: this expression": from the Learn pane if it shows, else from Inference."""
    from textual.widgets import TabbedContent

    from workbench.panes.inference import InferencePane
    from workbench.panes.learn import LearnPane

    if any(isinstance(screen, TraceScreen) for screen in app.screen_stack):
        app.notify("The Trace view is already open.", timeout=2)
        return
    base = app.screen_stack[0]  # the panes' screen, whatever dialog or palette is on top
    try:
        active = base.query_one("#panes", TabbedContent).active
        learn = base.query_one("#learn-pane", LearnPane)
        # the Inference pane is built on its first visit: before that, nothing was typed there
        inference = None if active == "learn" else base.query_one("#inference-pane", InferencePane)
    except Exception:  # an app without the panes, or an Inference pane never opened
        app.notify("There is no expression to trace here: type one in Inference (F4) or open a lesson.",
                   severity="warning", timeout=3)
        return
    if inference is None:
        open_trace(app, learn.models.source(), learn.choice, lesson_expression(learn))
    else:
        open_trace(app, inference.current_source(), inference.choice, inference_expression(inference))
