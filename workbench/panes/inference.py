"""The Inference pane: type expressions, see what the model answers and why.

Layout (top to bottom): the model chooser; decoding options (decoder models: greedy, sampling with a
temperature and top-k, beam search); the input line (↑/↓ recall earlier entries; several expressions
separated by ``;`` or newlines are answered one by one); then the console — one entry per expression:
the model's answer, the true answer, ✓/✗ and the answer probabilities as bars — next to the details of
the latest answer: the attention the model used for this very input (per layer and head), the
token-by-token generation (decoder), and the logit lens (the answer read out after each layer).

Threads: the model is asked of a ``ModelSource`` and probed in a thread worker, one job at a time in
submission order (the live source copies the weights under the session lock, and refuses while the run
trains). Results come back with ``call_from_thread``. Every failure a user can cause — an unparsable
expression, one outside the model's task, a bad decoding option, no model — becomes a one-line ``✗``
entry in the console; an unexpected exception does too, so nothing typed can end the app.

What lives elsewhere: the probing in ``core.probe.answers`` and ``workbench.probes``, the text in
``workbench.render.answers`` and ``workbench.render.attention``, and the widgets it composes in
``workbench.widgets`` (``ModelChooser``, ``ConsoleInput``, ``AttentionView``).
"""

from __future__ import annotations

import threading
from collections import deque
from typing import ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Collapsible, Input, Label, RichLog, Select, Static

from core.probe.answers import ProbeOptions, ProbeResult, parse_options, split_inputs
from workbench.lab_probes import head_captions
from workbench.model_source import ModelChoice, ModelSource
from workbench.probes import answer_from_source
from workbench.render.answers import (
    attention_sequence,
    detail_title,
    entry_text,
    generation_text,
    lens_text,
    read_position,
)
from workbench.render.attention import AttentionData
from workbench.widgets.attention_map import AttentionMap, AttentionView
from workbench.widgets.console_input import ConsoleInput
from workbench.widgets.model_chooser import ModelChooser

MAX_BATCH = 50  # expressions answered per submission (the rest are refused with a reason)
REFLOW_ENTRIES = 500  # entries written again after a resize (each is a few lines; the log keeps 2000)
INTRO = Text("Type an expression and press Enter: e.g. Max(3, 7, 2) for the five operations (a model of another "
             "task says what it takes, with an example). The answer uses the model picked above: the live run "
             "(while paused) or a saved checkpoint.", style="dim")
CONSOLE_LINES = 2000


def input_hint(example: str) -> str:
    """The console input's placeholder, with an expression the current model's task takes."""
    return f"{example} ⏎   several: separate with ;   ↑↓ history"
STRATEGY_CHOICES: tuple[tuple[str, str], ...] = (("greedy", "greedy"), ("sample", "sample"),
                                                 ("beam search", "beam"))

Job = tuple[ModelSource, list[str], ProbeOptions | None, str | None]


class InferencePane(Widget):
    """Inference console over a ``ModelSource`` (the live run) or any saved checkpoint."""

    DEFAULT_CSS = """
    InferencePane {
        height: 1fr;
    }
    """
    # F12 (ctrl+y in a browser, where F12 opens the developer tools): works while the input has focus.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f12,ctrl+y", "trace", "Trace", priority=True,
                tooltip="Step through the typed (or latest answered) expression: forward, backward, update")]

    class ModelChanged(Message):
        """The user picked another model (``choice``: "live" or "ck:NAME")."""

        def __init__(self, choice: str) -> None:
            super().__init__()
            self.choice = choice

    def __init__(self, source: ModelSource | None = None, *, models_root: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.models = ModelChoice(source, models_root)
        self.source: ModelSource = self.models.live
        self.models_root = models_root
        self.results: list[ProbeResult] = []  # every entry shown, oldest first
        self.roles: dict[str, dict[tuple[int, int], str]] = {}  # model label → each head's role (Lab captions)
        self.detail: ProbeResult | None = None
        self.pending = 0  # submissions queued or running
        self._jobs: deque[Job] = deque()
        self._jobs_lock = threading.Lock()
        self._worker_busy = False
        self._seed = 0
        self._kind: str | None = None
        self._console_width = 0  # the width the console's lines were wrapped for
        self._follow_end = True  # the console shows its end (the latest answer): keep it so on a resize

    # -- layout -----------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="inf-bar", classes="inf-row"):
            yield Label("model ", classes="inf-label")
            yield ModelChooser(self.models_root, self.choice, id="inf-model")
        with Horizontal(id="inf-decoding", classes="inf-row"):
            yield Label("decode ", classes="inf-label")
            yield Select(STRATEGY_CHOICES, value="greedy", allow_blank=False, compact=True, id="inf-strategy",
                         tooltip="How a decoder picks each token (encoders classify in one step)")
            yield Label(" T ", classes="inf-label")
            yield Input("1.0", id="inf-temperature", compact=True, disabled=True,
                        tooltip="Sampling temperature: 0 = greedy, 1 = the model's distribution, >1 flatter")
            yield Label(" top-k ", classes="inf-label")
            yield Input("0", id="inf-topk", compact=True, disabled=True,
                        tooltip="Sampling: draw only from the k most likely tokens (0 = all)")
            yield Label(" beam ", classes="inf-label")
            yield Input("3", id="inf-beam", compact=True, disabled=True, tooltip="Beam width (≥ 2 to search)")
        yield ConsoleInput(placeholder=input_hint("Max(3, 7, 2)"), id="inf-input",
                           compact=True)
        with Horizontal(id="inf-body"):
            yield RichLog(id="inf-console", wrap=True, markup=False, max_lines=CONSOLE_LINES, auto_scroll=True,
                          min_width=20)
            with VerticalScroll(id="inf-detail"):
                yield Static("", id="inf-detail-title")
                with Collapsible(title="Attention", collapsed=False, id="inf-attention-section"):
                    yield AttentionView("inf", id="inf-attention-view")
                with Collapsible(title="Generation, token by token", collapsed=False,
                                 id="inf-generation-section"):
                    yield Static("", id="inf-generation")
                with Collapsible(title="Logit lens: the answer read after each layer", collapsed=False,
                                 id="inf-lens-section"):
                    yield Static("", id="inf-lens")

    def on_mount(self) -> None:
        self.console.write(INTRO)
        self.watch(self.console, "scroll_y", self._console_scrolled, init=False)
        self._show_detail()

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width < 110, "-stacked")
        self.call_after_refresh(self._reflow_console)

    def _console_scrolled(self, scroll_y: float) -> None:
        """Does the console follow its end? Only a scroll changes that (the user's, or a write's), not a
        resize that makes the log taller or shorter than its window."""
        console = self.console
        self._follow_end = scroll_y >= console.max_scroll_y - 1

    def _reflow_console(self) -> None:
        """RichLog wraps a line when it is written: after a resize, write the entries again at the new
        width (the results are kept), so no line stays cut or wrapped for the old width. A console that
        showed its end (the latest answer) still does, whatever the new height."""
        console = self.console
        if self._follow_end:
            self.call_after_refresh(console.scroll_end, animate=False)
        width = console.scrollable_content_region.width
        if width == self._console_width or width <= 0:
            return
        first = self._console_width == 0
        self._console_width = width
        if first:
            return
        console.clear()
        console.write(INTRO)
        for r in self.results[-REFLOW_ENTRIES:]:
            console.write(entry_text(r))

    @property
    def console(self) -> RichLog:
        return self.query_one("#inf-console", RichLog)

    @property
    def input(self) -> ConsoleInput:
        return self.query_one("#inf-input", ConsoleInput)

    @property
    def attention(self) -> AttentionMap:
        return self.query_one("#inf-attention", AttentionMap)

    # -- the model ----------------------------------------------------------------------------------------
    @property
    def choice(self) -> str:
        """The model probed: ``"live"`` or ``"ck:NAME"``."""
        return self.models.choice

    def pick(self, choice: str) -> None:
        """Probe with ``choice`` from now on: ``"live"`` or ``"ck:NAME"`` (a bare name means a checkpoint)."""
        choice = self.models.pick(choice)
        if self.is_mounted:
            chooser = self.query_one("#inf-model", ModelChooser)
            chooser.choice = choice
            kind = chooser.kind_of(choice)
            if kind:
                self._set_kind(kind)

    def current_source(self) -> ModelSource:
        return self.models.source()

    @on(ModelChooser.Chosen, "#inf-model")
    def _model_chosen(self, event: ModelChooser.Chosen) -> None:
        event.stop()
        if event.choice != self.choice:
            self.pick(event.choice)
            self.post_message(self.ModelChanged(self.choice))

    def _set_kind(self, kind: str) -> None:
        self._kind = kind
        self.set_class(kind == "encoder", "-encoder")

    # -- decoding options -------------------------------------------------------------------------------
    @on(Select.Changed, "#inf-strategy")
    def _strategy_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._sync_option_inputs()

    def _sync_option_inputs(self) -> None:
        strategy = self.query_one("#inf-strategy", Select).value
        self.query_one("#inf-temperature", Input).disabled = strategy != "sample"
        self.query_one("#inf-topk", Input).disabled = strategy != "sample"
        self.query_one("#inf-beam", Input).disabled = strategy != "beam"

    def set_strategy(self, strategy: str, *, temperature: float | None = None, top_k: int | None = None,
                     beam_width: int | None = None) -> None:
        """Set the decoding options in code (also what the form does)."""
        self.query_one("#inf-strategy", Select).value = strategy
        if temperature is not None:
            self.query_one("#inf-temperature", Input).value = f"{temperature:g}"
        if top_k is not None:
            self.query_one("#inf-topk", Input).value = str(top_k)
        if beam_width is not None:
            self.query_one("#inf-beam", Input).value = str(beam_width)
        self._sync_option_inputs()

    def read_options(self) -> ProbeOptions:
        """The form's decoding options; ``ValueError`` with a one-line reason."""
        self._seed += 1
        return parse_options(self.query_one("#inf-strategy", Select).value,
                             self.query_one("#inf-temperature", Input).value,
                             self.query_one("#inf-topk", Input).value,
                             self.query_one("#inf-beam", Input).value, seed=self._seed)

    # -- submitting ---------------------------------------------------------------------------------------
    @on(Input.Submitted, "#inf-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.input.remember(event.value)
        self.input.value = ""
        self.run_expression(event.value)

    def run_expression(self, text: str, model: str | None = None) -> None:
        """Answer ``text`` (one or more expressions separated by ``;`` or newlines) and show it in the
        console; ``model`` ("live" or "ck:NAME") switches the model first. Never raises."""
        try:
            if model is not None and model != self.choice:
                self.pick(model)
            texts = split_inputs(str(text))
        except Exception as exc:  # e.g. a non-string from a caller: still one line
            self._write_error(str(text), f"cannot read the input: {exc}")
            return
        if not texts:
            self._write_error("", "type an expression such as Max(3, 7, 2)")
            return
        extra = texts[MAX_BATCH:]
        texts = texts[:MAX_BATCH]
        try:
            options: ProbeOptions | None = self.read_options()
            option_error = None
        except ValueError as exc:
            options, option_error = None, str(exc)
        self.pending += 1
        with self._jobs_lock:
            self._jobs.append((self.current_source(), texts, options, option_error))
            start = not self._worker_busy
            self._worker_busy = True
        if start:
            self._probe_worker()
        if extra:
            self._write_error(f"… {len(extra)} more", f"only {MAX_BATCH} expressions are answered at once")

    def _write_error(self, text: str, message: str) -> None:
        r = ProbeResult(text=text, error=message)
        self.results.append(r)
        self.console.write(entry_text(r))

    @work(thread=True, group="probe", exit_on_error=False)
    def _probe_worker(self) -> None:
        """Answer queued submissions one at a time, in order (a thread: probes and copies may block)."""
        try:
            while True:
                with self._jobs_lock:
                    if not self._jobs:
                        self._worker_busy = False
                        return
                    source, texts, options, option_error = self._jobs.popleft()
                results = answer_from_source(source, texts, options, option_error)
                label = next((r.label for r in results if r.error is None and r.label), "")
                # each head's role, once per model (and step): ~0.2 s; stored by the UI thread
                roles = head_captions(source) if label and label not in self.roles else None
                try:
                    self.app.call_from_thread(self._show_results, results, label, roles)
                except RuntimeError:  # the app is closing
                    return
        finally:
            with self._jobs_lock:
                self._worker_busy = False

    def _show_results(self, results: list[ProbeResult], label: str = "",
                      roles: dict[tuple[int, int], str] | None = None) -> None:
        if roles is not None:
            self.roles[label] = roles
        self.pending = max(0, self.pending - 1)
        for r in results:
            self.results.append(r)
            self.console.write(entry_text(r))
        example = next((r.example for r in reversed(results) if r.example), "")
        if example:  # the hint follows the model that answered: Sum(34, 17) for a + b mod 47
            self.input.placeholder = input_hint(example)
        answered = [r for r in results if r.error is None]
        if answered:
            self.detail = answered[-1]
            self._set_kind(self.detail.kind)
            self._show_detail()

    # -- the detail column --------------------------------------------------------------------------------
    def _show_detail(self) -> None:
        r = self.detail
        self.query_one("#inf-detail-title", Static).update(detail_title(r))
        if r is None or r.prediction is None:
            self.query_one("#inf-generation", Static).update("")
            self.query_one("#inf-lens", Static).update("")
            return
        read_row, note = read_position(r)
        self.query_one(AttentionView).data = AttentionData(r.prediction.attention, r.prediction.tokens, read_row,
                                                           note, attention_sequence(r), self.roles.get(r.label, {}))
        self.query_one("#inf-generation", Static).update(generation_text(r))
        self.query_one("#inf-lens", Static).update(lens_text(r.lens, r.truth))

    def select_attention(self, layer: int | None = None, head: int | None = None) -> None:
        """Show ``layer`` (0-based) and ``head`` (0-based; −1 = mean of the heads)."""
        self.attention.select(layer, head)

    def action_trace(self) -> None:
        """The Trace view (step debugger) of ``inference_expression`` on this pane's model."""
        from workbench.screens.trace import inference_expression, open_trace

        open_trace(self.app, self.current_source(), self.choice, inference_expression(self))

    # -- for tests and the app ---------------------------------------------------------------------------
    def focus_default(self) -> None:
        """Focus the expression input."""
        self.input.focus()

    def console_text(self) -> str:
        """The console's text as shown (one line per row)."""
        return "\n".join(strip.text for strip in self.console.lines)

    @property
    def idle(self) -> bool:
        return self.pending == 0
