"""Text of the inference console: one entry per answered expression (answer, ✓/✗, probability bars), the
token-by-token generation of a decoder, the logit-lens table and the title of the detail column."""

from __future__ import annotations

import math

from rich.text import Text

from core.data.answer_format import answer_tokens, format_answer
from core.data.operations import Answer
from core.probe.answers import TOP_K, ProbeResult
from core.probe.generation import GenerationResult
from core.probe.logit_lens import LogitLensResult
from workbench.render.grids import hbar

BAR_WIDTH = 20
LENS_BAR_WIDTH = 12
MAX_SHOWN_INPUT = 120  # characters of the typed input echoed in an entry


def pct(p: float) -> str:
    """A probability in 6 columns, always as a percentage so a column never mixes notations:
    ``" 42.0%"``, ``" 0.04%"`` below 0.1%, ``"<0.01%"`` below 0.01%, ``"  –  "`` for non-finite."""
    if not math.isfinite(p):
        return "  –  "
    if p >= 0.001 or p == 0:
        return f"{p:6.1%}"
    return f"{p:6.2%}" if p >= 0.0001 else "<0.01%"


def entry_text(r: ProbeResult) -> Text:
    """The console entry of one result: the input, then the answer line and the probability bars."""
    text = Text(no_wrap=False)
    text.append("› ", style="bold cyan")
    text.append(r.text if len(r.text) <= MAX_SHOWN_INPUT else r.text[:MAX_SHOWN_INPUT - 3] + "…")
    if r.error is not None:
        if r.error_position is not None and r.error_position < MAX_SHOWN_INPUT - 3:
            text.append("\n  " + " " * r.error_position + "^", style="bold red")  # under the column named
        text.append("\n  ✗ ", style="bold red")
        text.append(r.error, style="red")
        return text
    answer, truth = r.answer, r.truth
    mark, style = ("✓", "bold green") if r.correct else ("✗", "bold red")
    text.append(f"\n  {mark} ", style=style)
    text.append("no valid answer" if answer is None else format_answer(answer), style=style)
    text.append(f"   true answer {format_answer(truth)}", style="dim")
    g = r.generation
    if g is not None:
        strategy = "beam search" if g.strategy == "beam" else g.strategy
        text.append(f" · {strategy}", style="dim")
        # a sample's tokens with the model's own p (T 1), which the drawn distribution below is not
        text.append("\n    tokens (model p) " if g.strategy == "sample" else "\n    tokens ", style="dim")
        for tok, p in zip(g.tokens, g.token_probs, strict=False):
            text.append(tok, style="bold")
            text.append(f" {p:.0%}  ", style="dim")
        text.append(f"P(seq) {g.probability:.1%}", style="dim")
        if g.strategy == "beam" and g.beams:
            for h in g.beams[:TOP_K]:
                seq = " ".join(h.tokens)
                label = format_answer(h.answer)
                text.append(f"\n    {label:>4} ", style="bold")
                text.append(hbar(h.probability, BAR_WIDTH), style="cyan")
                text.append(f" {pct(h.probability)}  {seq}", style="dim")
        elif g.strategy == "sample" and g.drawn_steps:
            # The distribution the sample was drawn from, not the model's own: the temperature shows.
            text.append(f"\n    first token drawn from {drawn_label(g)}:", style="dim")
            for tok, p in g.drawn_steps[0][:TOP_K]:
                text.append(f"\n    {tok:>5} ", style="bold")
                text.append(hbar(p, BAR_WIDTH), style="cyan")
                text.append(f" {pct(p)}", style="dim")
        elif g.steps:
            text.append("\n    first token:", style="dim")
            for tok, p in g.steps[0][:TOP_K]:
                text.append(f"\n    {tok:>5} ", style="bold")
                text.append(hbar(p, BAR_WIDTH), style="cyan")
                text.append(f" {pct(p)}", style="dim")
        return text
    prediction = r.prediction
    if prediction is not None:
        for a, prob in prediction.top:
            text.append(f"\n    {a:>4} ", style="bold green" if a == truth else "bold")
            text.append(hbar(prob, BAR_WIDTH), style="cyan")
            text.append(f" {pct(prob)}", style="dim")
    return text


def drawn_label(g: GenerationResult) -> str:
    """How a sample's distribution was made: ``"softmax(log p / T), T 2"`` and the top-k, if any."""
    top = f", top-{g.top_k} only" if g.top_k else ""
    if g.temperature == 0:
        return f"T 0 (all mass on the most likely token){top}"
    return f"softmax(log p / T), T {g.temperature:g}{top}"


def generation_text(r: ProbeResult) -> Text:
    """A decoder's generation step by step (chosen token and the candidates), then its beam hypotheses."""
    if r.kind != "decoder":
        return Text("An encoder classifies the answer in one step: there is no token-by-token generation. "
                    "Pick a decoder model (e.g. decoder-0-99) to see it.", style="dim")
    g = r.generation
    if g is None:
        return Text("no generation", style="dim")
    text = Text(no_wrap=True, overflow="crop")
    text.append(f"{g.strategy}", style="bold")
    sampled = g.strategy == "sample" and len(g.drawn_steps) == len(g.steps)
    under = " under the model (T 1)" if sampled else ""
    text.append(f" · P(sequence) {g.probability:.3%} · log P {g.log_prob:.4f}{under}\n", style="dim")
    if sampled:
        text.append(f"each token drawn from {drawn_label(g)}: the candidates below\n", style="dim")
    for s, cands in enumerate(g.drawn_steps if sampled else g.steps):
        chosen = g.tokens[s] if s < len(g.tokens) else "?"
        text.append(f"step {s + 1} ", style="dim")
        text.append(f"▸ {chosen:<5}", style="bold")
        if sampled and s < len(g.drawn_probs):  # the drawn token may lie outside the listed candidates
            text.append(f" (drawn at {pct(g.drawn_probs[s]).strip()})", style="dim")
        text.append("  ")
        for i, (tok, p) in enumerate(cands):
            if i:
                text.append(" · ", style="dim")
            text.append(tok, style="bold green" if tok == chosen else "")
            text.append(f" {pct(p).strip()}", style="dim")
        text.append("\n")
    if g.beams:
        text.append("hypotheses, best first\n", style="bold")
        for h in g.beams:
            label = format_answer(h.answer)
            state = "finished" if h.finished else "unfinished"
            via = "" if h.source == "beam" else f" (via {h.source})"
            text.append(f"  {label:>4} ", style="bold")
            text.append(f"{' '.join(h.tokens):<14}", style="")
            text.append(f" P {h.probability:.3%}  log P {h.log_prob:8.4f}  {state}{via}\n", style="dim")
    text.rstrip()
    return text


def lens_text(lens: LogitLensResult | None, truth: Answer | None) -> Text:
    """The logit lens as a table: per layer, the best reading (green when it is the target), its
    probability as a bar, and the next three candidates."""
    if lens is None:
        return Text("no logit lens", style="dim")
    if lens.error:
        return Text(f"✗ {lens.error}", style="red")
    target: Answer | str | None = truth
    if lens.kind == "decoder" and truth is not None:
        target = answer_tokens(truth)[0]  # the first answer token is read at "="
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
        text.append(hbar(p, LENS_BAR_WIDTH), style="cyan")
        text.append(f" {p:6.1%}  ", style="dim")
        text.append("  ".join(f"{c} {q:.0%}" for c, q in reading[1:4]), style="dim")
        text.append("\n")
    text.rstrip()
    return text


DETAIL_PLACEHOLDER = "Details of the latest answer appear here: attention, generation, logit lens."


def detail_title(r: ProbeResult | None) -> Text:
    """The detail column's first line: the expression, its true answer, the model's answer and the model."""
    if r is None or r.prediction is None:
        return Text(DETAIL_PLACEHOLDER, style="dim")
    p = r.prediction
    head = Text()
    head.append(str(p.expression) if p.expression is not None else r.text, style="bold")
    head.append(f" = {format_answer(r.truth)}", style="dim")
    head.append("  model: ")
    head.append("no valid answer" if r.answer is None else format_answer(r.answer),
                style="bold green" if r.correct else "bold red")
    head.append(f"  · {r.label}", style="dim")
    return head


STRATEGY_NAMES = {"greedy": "greedy", "sample": "sampled", "beam": "beam search"}


def read_position(r: ProbeResult) -> tuple[int | None, str]:
    """The attention row the model reads its answer from, and the note saying so."""
    if r.kind == "decoder":
        tokens = r.prediction.tokens if r.prediction is not None else []
        row = tokens.index("=") if "=" in tokens else None
        return row, "▶ '=': where the first answer token is predicted"
    return 0, "▶ position 0: where the encoder's head reads the answer"


def attention_sequence(r: ProbeResult) -> str:
    """The caption's name for the sequence the attention map is of: a decoder's generated one, named by
    the strategy that produced it (``"the beam search sequence: 7 [EOS]"``); an encoder's input."""
    p = r.prediction
    if p is None:
        return ""
    if r.kind != "decoder":
        return "the input"
    strategy = r.attention_of or "greedy"
    generated = p.tokens[p.tokens.index("=") + 1:] if "=" in p.tokens else []
    name = STRATEGY_NAMES.get(strategy, strategy)
    return f"the {name} sequence: {' '.join(generated)}" if generated else f"the {name} sequence"
