"""The Inference pane: type expressions, see what the model answers and why.

Layout (top to bottom): the model picker; decoding options (decoder models: greedy, sampling with a
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
"""

from __future__ import annotations

import math
import re
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult, RenderResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Collapsible, Input, Label, RichLog, Select, Static

from core.errors import LLMLearnError
from core.probe.generation import STRATEGIES, GenerationResult, generate_answer
from core.probe.inference import Prediction, predict
from core.probe.logit_lens import LogitLensResult, logit_lens
from workbench.model_source import CHECKPOINT_PREFIX, LIVE, ModelSource, ProbeModel, SessionModelSource, source_for
from workbench.widgets.grids import grid, hbar
from workbench.widgets.model_picker import ModelPicker

MAX_BATCH = 50  # expressions answered per submission (the rest are refused with a reason)
MAX_HISTORY = 200
TOP_K = 5  # answers shown as bars
BAR_WIDTH = 20
CONSOLE_LINES = 2000
STRATEGY_CHOICES: tuple[tuple[str, str], ...] = (("greedy", "greedy"), ("sample", "sample"),
                                                 ("beam search", "beam"))
_SEPARATORS = re.compile(r"[;\r\n]+")


# -- probing, independent of the widgets ------------------------------------------------------------------
@dataclass(frozen=True)
class ProbeOptions:
    """How a decoder generates (ignored by encoders, which classify in one step)."""

    strategy: str = "greedy"
    temperature: float = 1.0
    top_k: int = 0  # sampling: keep the k most likely tokens (0 = all)
    beam_width: int = 3
    seed: int = 0  # sampling draws


def parse_options(strategy: object, temperature: str, top_k: str, beam_width: str, seed: int = 0) -> ProbeOptions:
    """Options from the form's texts; ``ValueError`` names the bad one."""
    if strategy not in STRATEGIES:
        raise ValueError(f"decoding strategy must be one of {', '.join(STRATEGIES)}")
    try:
        t = float(temperature.strip() or "1")
    except ValueError:
        raise ValueError(f"temperature must be a number ≥ 0, got {temperature.strip()!r}") from None
    if not (math.isfinite(t) and t >= 0):
        raise ValueError(f"temperature must be a finite number ≥ 0, got {temperature.strip()!r}")
    k = _parse_int("top-k", top_k, 0, default=0)
    w = _parse_int("beam width", beam_width, 1, default=3)
    return ProbeOptions(str(strategy), t, k, w, seed)


def _parse_int(name: str, text: str, lo: int, default: int) -> int:
    s = text.strip()
    if not s:
        return default
    try:
        v = int(s)
    except ValueError:
        raise ValueError(f"{name} must be a whole number ≥ {lo}, got {s!r}") from None
    if v < lo or v > 1000:
        raise ValueError(f"{name} must be between {lo} and 1000, got {v}")
    return v


def split_inputs(text: str) -> list[str]:
    """The expressions of one submission: separated by ``;`` or newlines, blanks dropped."""
    return [p.strip() for p in _SEPARATORS.split(text) if p.strip()]


@dataclass
class ProbeResult:
    """Everything shown for one typed expression. ``error`` set means it was not answered."""

    text: str
    kind: str = ""
    prediction: Prediction | None = None  # answer, probabilities, tokens and attention
    generation: GenerationResult | None = None  # decoder: the chosen strategy's sequence
    lens: LogitLensResult | None = None
    error: str | None = None
    label: str = ""  # which model answered

    @property
    def answer(self) -> int | None:
        if self.generation is not None:
            return self.generation.answer
        return None if self.prediction is None else self.prediction.answer

    @property
    def truth(self) -> int | None:
        return None if self.prediction is None else self.prediction.truth

    @property
    def correct(self) -> bool:
        return self.error is None and self.answer is not None and self.answer == self.truth


def probe_texts(probe: ProbeModel, texts: Sequence[str], options: ProbeOptions,
                details: bool = True) -> list[ProbeResult]:
    """Answer ``texts`` with ``probe``'s model: ``predict`` for all (one batch; attention, top-k), the
    decoding strategy per text for a decoder, and the logit lens of the last answered one (``details``).
    Never raises: any failure becomes the result's ``error``."""
    model, task, label = probe
    kind = model.config.kind
    results = [ProbeResult(text=t, kind=kind, label=label) for t in texts]
    try:
        predictions = predict(model, task, list(texts), top_k=TOP_K)
    except Exception as exc:  # a bug, not a user error: still one line, never a crash
        for r in results:
            r.error = f"internal error: {type(exc).__name__}: {exc}"
        return results
    for r, p in zip(results, predictions, strict=True):
        r.prediction = p
        if p.error:
            r.error = p.error
            continue
        if kind == "decoder":
            try:
                r.generation = generate_answer(model, task, r.text, options.strategy, options.temperature,
                                               options.top_k, options.beam_width, options.seed)
            except (LLMLearnError, TypeError) as exc:
                r.error = str(exc)
                continue
            except Exception as exc:
                r.error = f"internal error: {type(exc).__name__}: {exc}"
                continue
            if r.generation.error:
                r.error = r.generation.error
    if details:
        answered = [r for r in results if r.error is None]
        if answered:
            last = answered[-1]
            try:
                last.lens = logit_lens(model, task, last.text)
            except Exception as exc:
                last.lens = LogitLensResult(text=last.text, error=f"internal error: {type(exc).__name__}: {exc}")
    return results


# -- rendering ------------------------------------------------------------------------------------------
def _pct(p: float) -> str:
    if not math.isfinite(p):
        return "  –  "
    return f"{p:6.1%}" if p >= 0.001 or p == 0 else f"{p:6.0e}"


def entry_text(r: ProbeResult) -> Text:
    """The console entry of one result: the input, then the answer line and the probability bars."""
    text = Text(no_wrap=False)
    text.append("› ", style="bold cyan")
    text.append(r.text if len(r.text) <= 120 else r.text[:117] + "…")
    if r.error is not None:
        text.append("\n  ✗ ", style="bold red")
        text.append(r.error, style="red")
        return text
    answer, truth = r.answer, r.truth
    mark, style = ("✓", "bold green") if r.correct else ("✗", "bold red")
    text.append(f"\n  {mark} ", style=style)
    text.append("no valid number" if answer is None else str(answer), style=style)
    text.append(f"   true answer {truth}", style="dim")
    g = r.generation
    if g is not None:
        strategy = "beam search" if g.strategy == "beam" else g.strategy
        text.append(f" · {strategy}", style="dim")
        text.append("\n    tokens ", style="dim")
        for tok, p in zip(g.tokens, g.token_probs, strict=False):
            text.append(tok, style="bold")
            text.append(f" {p:.0%}  ", style="dim")
        text.append(f"P(seq) {g.probability:.1%}", style="dim")
        if g.strategy == "beam" and g.beams:
            for h in g.beams[:TOP_K]:
                seq = " ".join(h.tokens)
                label = "–" if h.answer is None else str(h.answer)
                text.append(f"\n    {label:>4} ", style="bold")
                text.append(hbar(h.probability, BAR_WIDTH), style="cyan")
                text.append(f" {_pct(h.probability)}  {seq}", style="dim")
        elif g.steps:
            text.append("\n    first token:", style="dim")
            for tok, p in g.steps[0][:TOP_K]:
                text.append(f"\n    {tok:>5} ", style="bold")
                text.append(hbar(p, BAR_WIDTH), style="cyan")
                text.append(f" {_pct(p)}", style="dim")
        return text
    p = r.prediction
    if p is not None:
        for a, prob in p.top:
            text.append(f"\n    {a:>4} ", style="bold green" if a == truth else "bold")
            text.append(hbar(prob, BAR_WIDTH), style="cyan")
            text.append(f" {_pct(prob)}", style="dim")
    return text


def generation_text(r: ProbeResult) -> Text:
    if r.kind != "decoder":
        return Text("An encoder classifies the answer in one step: there is no token-by-token generation. "
                    "Pick a decoder model (e.g. decoder-0-99) to see it.", style="dim")
    g = r.generation
    if g is None:
        return Text("no generation", style="dim")
    text = Text(no_wrap=True, overflow="crop")
    text.append(f"{g.strategy}", style="bold")
    text.append(f" · P(sequence) {g.probability:.3%} · log P {g.log_prob:.4f}\n", style="dim")
    for s, cands in enumerate(g.steps):
        chosen = g.tokens[s] if s < len(g.tokens) else "?"
        text.append(f"step {s + 1} ", style="dim")
        text.append(f"▸ {chosen:<5}", style="bold")
        text.append("  ")
        for i, (tok, p) in enumerate(cands):
            if i:
                text.append(" · ", style="dim")
            text.append(tok, style="bold green" if tok == chosen else "")
            text.append(f" {p:.1%}" if p >= 0.001 else f" {p:.0e}", style="dim")
        text.append("\n")
    if g.beams:
        text.append("hypotheses, best first\n", style="bold")
        for h in g.beams:
            label = "–" if h.answer is None else str(h.answer)
            state = "finished" if h.finished else "unfinished"
            via = "" if h.source == "beam" else f" (via {h.source})"
            text.append(f"  {label:>4} ", style="bold")
            text.append(f"{' '.join(h.tokens):<14}", style="")
            text.append(f" P {h.probability:.3%}  log P {h.log_prob:8.4f}  {state}{via}\n", style="dim")
    text.rstrip()
    return text


def lens_text(lens: LogitLensResult | None, truth: int | None) -> Text:
    if lens is None:
        return Text("no logit lens", style="dim")
    if lens.error:
        return Text(f"✗ {lens.error}", style="red")
    target: int | str | None = truth
    if lens.kind == "decoder" and truth is not None:
        target = str(truth)[0]  # the first answer token is read at "="
    where = lens.tokens[lens.position] if 0 <= lens.position < len(lens.tokens) else "?"
    text = Text(no_wrap=True, overflow="crop")
    text.append(f"read at position {lens.position} ({where}); target ", style="dim")
    text.append(f"{target}", style="bold green")
    text.append("\n")
    for name, reading in zip(lens.layer_names, lens.layers, strict=False):
        if not reading:
            continue
        best, p = reading[0]
        text.append(f"{name:<10} ", style="bold")
        text.append(f"{best!s:>5} ", style="bold green" if best == target else "bold")
        text.append(hbar(p, 12), style="cyan")
        text.append(f" {p:6.1%}  ", style="dim")
        text.append("  ".join(f"{c} {q:.0%}" for c, q in reading[1:4]), style="dim")
        text.append("\n")
    text.rstrip()
    return text


# -- widgets --------------------------------------------------------------------------------------------
class ConsoleInput(Input):
    """The expression input: ↑/↓ recall earlier entries; a pasted multi-line text keeps all its lines
    (joined with ``; `` so each is answered)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "history(-1)", "Older", tooltip="Recall the previous expression"),
        Binding("down", "history(1)", "Newer", tooltip="Recall the next expression"),
    ]

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.history: list[str] = []
        self._index = 0
        self._draft = ""

    def remember(self, text: str) -> None:
        text = text.strip()
        if text and (not self.history or self.history[-1] != text):
            self.history.append(text)
            del self.history[:-MAX_HISTORY]
        self._index = len(self.history)
        self._draft = ""

    def action_history(self, delta: int) -> None:
        if not self.history:
            return
        if self._index == len(self.history):
            self._draft = self.value
        self._index = min(max(self._index + delta, 0), len(self.history))
        self.value = self._draft if self._index == len(self.history) else self.history[self._index]
        self.cursor_position = len(self.value)

    def _on_paste(self, event: events.Paste) -> None:
        if event.text:
            line = "; ".join(p for p in (s.strip() for s in event.text.splitlines()) if p)
            if self.selection.is_empty:
                self.insert_text_at_cursor(line)
            else:
                self.replace(line, *self.selection)
        event.prevent_default()
        event.stop()


class AttentionMap(Widget, can_focus=True):
    """The attention one layer and head used for an input: a grid of shaded cells, one row per query
    position (the token doing the looking), one column per key (the token looked at), in percent.
    ←/→ change the head ("mean" = average of the heads), ↑/↓ the layer."""

    DEFAULT_CSS = """
    AttentionMap {
        height: auto;
        width: 1fr;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    AttentionMap:focus {
        background: $boost;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "head(-1)", "Head ←", tooltip="Previous attention head"),
        Binding("right", "head(1)", "Head →", tooltip="Next attention head"),
        Binding("up", "layer(-1)", "Layer ↑", tooltip="Previous layer"),
        Binding("down", "layer(1)", "Layer ↓", tooltip="Next layer"),
    ]

    class Changed(Message):
        def __init__(self, attention_map: AttentionMap) -> None:
            super().__init__()
            self.attention_map = attention_map

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.maps: list[np.ndarray] = []  # per layer (H, T, T)
        self.tokens: list[str] = []
        self.layer_index = 0
        self.head_index = -1  # −1: mean over heads
        self.read_row: int | None = None
        self.note = ""

    @property
    def n_layers(self) -> int:
        return len(self.maps)

    @property
    def n_heads(self) -> int:
        return int(self.maps[0].shape[0]) if self.maps else 0

    def set_data(self, maps: list[np.ndarray], tokens: list[str], read_row: int | None, note: str = "") -> None:
        self.maps = [np.asarray(m, dtype=np.float64) for m in maps]
        self.tokens = list(tokens)
        self.read_row = read_row
        self.note = note
        self.layer_index = min(self.layer_index, max(0, self.n_layers - 1))
        if self.head_index >= self.n_heads:
            self.head_index = -1
        self.refresh(layout=True)

    def select(self, layer: int | None = None, head: int | None = None) -> None:
        if layer is not None and self.maps:
            self.layer_index = min(max(int(layer), 0), self.n_layers - 1)
        if head is not None and self.maps:
            self.head_index = min(max(int(head), -1), self.n_heads - 1)
        self.refresh(layout=True)
        self.post_message(self.Changed(self))

    def action_head(self, delta: int) -> None:
        if self.maps:
            self.select(head=(self.head_index + 1 + delta) % (self.n_heads + 1) - 1)

    def action_layer(self, delta: int) -> None:
        if self.maps:
            self.select(layer=(self.layer_index + delta) % self.n_layers)

    def matrix(self) -> np.ndarray:
        """The (T, T) weights shown now."""
        if not self.maps:
            return np.zeros((0, 0))
        m = self.maps[self.layer_index]
        return m.mean(axis=0) if self.head_index < 0 else m[self.head_index]

    def caption(self) -> str:
        if not self.maps:
            return ""
        head = "mean of heads" if self.head_index < 0 else f"head {self.head_index + 1}/{self.n_heads}"
        return f"layer {self.layer_index + 1}/{self.n_layers} · {head}"

    def cell_width(self) -> int:
        width = self.size.width or 80
        label = min(max([len(t) for t in self.tokens] + [1]), 7) + 2
        n = max(1, len(self.tokens))
        return 3 if label + 3 * n <= width else (2 if label + 2 * n <= width else 1)

    def build(self) -> Text:
        if not self.maps:
            return Text("Answer an expression to see the attention it used.", style="dim")
        text = Text(no_wrap=True, overflow="crop")
        text.append(self.caption(), style="bold")
        text.append("  (row: query token · column: key it attends to · %)\n", style="dim")
        text.append_text(grid(self.matrix(), self.tokens, self.tokens, cell_width=self.cell_width(),
                              highlight_row=self.read_row))
        if self.note:
            text.append(f"\n{self.note}", style="dim")
        return text

    def render(self) -> RenderResult:
        return self.build()

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        if not self.maps:
            return 1
        return 2 + len(self.tokens) + (1 if self.note else 0)


class InferencePane(Widget):
    """Inference console over a ``ModelSource`` (the live run) or any saved checkpoint."""

    DEFAULT_CSS = """
    InferencePane {
        height: 1fr;
    }
    """
    class ModelChanged(Message):
        """The user picked another model (``choice``: "live" or "ck:NAME")."""

        def __init__(self, choice: str) -> None:
            super().__init__()
            self.choice = choice

    def __init__(self, source: ModelSource | None = None, *, models_root: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.source: ModelSource = source if source is not None else SessionModelSource(lambda: None)
        self.models_root = models_root
        self.choice = LIVE
        self._source_cache: ModelSource | None = None
        self.results: list[ProbeResult] = []  # every entry shown, oldest first
        self.detail: ProbeResult | None = None
        self.pending = 0  # submissions queued or running
        self._jobs: deque[tuple[ModelSource, list[str], ProbeOptions | None, str | None]] = deque()
        self._jobs_lock = threading.Lock()
        self._worker_busy = False
        self._seed = 0
        self._kind: str | None = None

    # -- layout -----------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="inf-bar", classes="inf-row"):
            yield Label("model ", classes="inf-label")
            yield ModelPicker(self.models_root, id="inf-model")
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
        yield ConsoleInput(placeholder="Max(3, 7, 2) ⏎   several: separate with ;   ↑↓ history", id="inf-input",
                           compact=True)
        with Horizontal(id="inf-body"):
            yield RichLog(id="inf-console", wrap=True, markup=False, max_lines=CONSOLE_LINES, auto_scroll=True,
                          min_width=20)
            with VerticalScroll(id="inf-detail"):
                yield Static("", id="inf-detail-title")
                with Collapsible(title="Attention", collapsed=False, id="inf-attention-section"):
                    with Horizontal(classes="inf-row"):
                        yield Label("layer ", classes="inf-label")
                        yield Select([("layer 1", 0)], value=0, allow_blank=False, compact=True, id="inf-layer")
                        yield Label(" head ", classes="inf-label")
                        yield Select([("mean of heads", -1)], value=-1, allow_blank=False, compact=True,
                                     id="inf-head")
                    yield AttentionMap(id="inf-attention")
                with Collapsible(title="Generation, token by token", collapsed=False,
                                 id="inf-generation-section"):
                    yield Static("", id="inf-generation")
                with Collapsible(title="Logit lens: the answer read after each layer", collapsed=False,
                                 id="inf-lens-section"):
                    yield Static("", id="inf-lens")

    def on_mount(self) -> None:
        if self.choice != LIVE:
            self.query_one("#inf-model", ModelPicker).show(self.choice)
        self.console.write(Text("Type an expression such as Max(3, 7, 2) and press Enter. The answer uses the "
                                "model picked above: the live run (while paused) or a saved checkpoint.",
                                style="dim"))
        self._show_detail()

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width < 110, "-stacked")

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
    def pick(self, choice: str) -> None:
        """Probe with ``choice`` from now on: ``"live"`` or ``"ck:NAME"`` (a bare name means a checkpoint)."""
        if choice != LIVE and not choice.startswith(CHECKPOINT_PREFIX):
            choice = f"{CHECKPOINT_PREFIX}{choice}"
        self.choice = choice
        self._source_cache = source_for(choice, self.source, self.models_root)
        if self.is_mounted:
            picker = self.query_one("#inf-model", ModelPicker)
            picker.show(choice)
            kind = picker.kind_of(choice)
            if kind:
                self._set_kind(kind)

    def current_source(self) -> ModelSource:
        if self.choice == LIVE:
            return self.source
        if self._source_cache is None:
            self._source_cache = source_for(self.choice, self.source, self.models_root)
        return self._source_cache

    @on(Select.Changed, "#inf-model")
    def _model_changed(self, event: Select.Changed) -> None:
        event.stop()
        if isinstance(event.value, str) and event.value != self.choice:
            self.pick(event.value)
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
                results = self._answer(source, texts, options, option_error)
                try:
                    self.app.call_from_thread(self._show_results, results)
                except RuntimeError:  # the app is closing
                    return
        finally:
            with self._jobs_lock:
                self._worker_busy = False

    def _answer(self, source: ModelSource, texts: list[str], options: ProbeOptions | None,
                option_error: str | None) -> list[ProbeResult]:
        try:
            probe = source.live()
        except Exception as exc:
            probe = f"cannot get the model: {type(exc).__name__}: {exc}"
        if isinstance(probe, str):
            return [ProbeResult(text=t, error=probe) for t in texts]
        if option_error is not None or options is None:
            if probe.kind == "decoder":
                return [ProbeResult(text=t, kind="decoder", error=option_error, label=probe.label) for t in texts]
            options = ProbeOptions()  # encoders ignore the decoding options
        return probe_texts(probe, texts, options)

    def _show_results(self, results: list[ProbeResult]) -> None:
        self.pending = max(0, self.pending - 1)
        for r in results:
            self.results.append(r)
            self.console.write(entry_text(r))
        answered = [r for r in results if r.error is None]
        if answered:
            self.detail = answered[-1]
            self._set_kind(self.detail.kind)
            self._show_detail()

    # -- the detail column --------------------------------------------------------------------------------
    def _show_detail(self) -> None:
        r = self.detail
        title = self.query_one("#inf-detail-title", Static)
        if r is None or r.prediction is None:
            title.update(Text("Details of the latest answer appear here: attention, generation, logit lens.",
                              style="dim"))
            self.query_one("#inf-generation", Static).update("")
            self.query_one("#inf-lens", Static).update("")
            return
        p = r.prediction
        head = Text()
        head.append(str(p.expression) if p.expression is not None else r.text, style="bold")
        head.append(f" = {r.truth}", style="dim")
        head.append("  model: ")
        head.append("no valid number" if r.answer is None else str(r.answer),
                    style="bold green" if r.correct else "bold red")
        head.append(f"  · {r.label}", style="dim")
        title.update(head)
        read_row: int | None = 0
        note = "▶ position 0: where the encoder's head reads the answer"
        if r.kind == "decoder":
            read_row = p.tokens.index("=") if "=" in p.tokens else None
            note = "▶ '=': where the first answer token is predicted (greedy sequence)"
        self._set_attention_choices(len(p.attention), int(p.attention[0].shape[0]) if p.attention else 0)
        self.attention.set_data(p.attention, p.tokens, read_row, note)
        self.query_one("#inf-generation", Static).update(generation_text(r))
        self.query_one("#inf-lens", Static).update(lens_text(r.lens, r.truth))

    def _set_attention_choices(self, n_layers: int, n_heads: int) -> None:
        layer_select = self.query_one("#inf-layer", Select)
        head_select = self.query_one("#inf-head", Select)
        amap = self.attention
        with self.prevent(Select.Changed):
            layer_select.set_options([(f"layer {i + 1}", i) for i in range(max(1, n_layers))])
            head_select.set_options([("mean of heads", -1)] + [(f"head {h + 1}", h) for h in range(n_heads)])
            layer_select.value = min(amap.layer_index, max(0, n_layers - 1))
            head_select.value = amap.head_index if amap.head_index < n_heads else -1

    def select_attention(self, layer: int | None = None, head: int | None = None) -> None:
        """Show ``layer`` (0-based) and ``head`` (0-based; −1 = mean of the heads)."""
        self.attention.select(layer, head)

    @on(Select.Changed, "#inf-layer")
    def _layer_changed(self, event: Select.Changed) -> None:
        event.stop()
        if isinstance(event.value, int):
            self.attention.select(layer=event.value)

    @on(Select.Changed, "#inf-head")
    def _head_changed(self, event: Select.Changed) -> None:
        event.stop()
        if isinstance(event.value, int):
            self.attention.select(head=event.value)

    @on(AttentionMap.Changed)
    def _map_changed(self, event: AttentionMap.Changed) -> None:
        amap = event.attention_map
        with self.prevent(Select.Changed):
            layer_select = self.query_one("#inf-layer", Select)
            head_select = self.query_one("#inf-head", Select)
            if layer_select.value != amap.layer_index:
                layer_select.value = amap.layer_index
            if head_select.value != amap.head_index:
                head_select.value = amap.head_index

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
