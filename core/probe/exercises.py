"""The lessons' exercises, checked against the learner's own model: ``check_exercise(check, context, answer)``.

A lesson asks "which head finds the largest number?" or "will lr = 3 diverge?"; the answer is not a
constant in the lesson file but *measured* — on the loaded model's attention, by a 50-step run — so the
verdict says what was measured (``Verdict.measured``) and why it is so (``explanation``). ``CHECKS``
declares each check's answer kind (number, yes/no, head, choice) and its parameters, so a lesson file
is validated when it loads.

An answer that cannot be read ("two-ish") is no error: the verdict has ``understood = False`` and a
one-line message saying what to type. A check that does not apply to this model (generation on an
encoder) says so with ``applies = False``. Bad parameters in a lesson raise ``ConfigError``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.data.expression import parse_expression
from core.data.task import TaskConfig
from core.data.vocab import DIGIT_TOKENS, PUNCTUATION_TOKENS, SPECIAL_TOKENS
from core.errors import ConfigError, LLMLearnError
from core.nn.models import build_model
from core.nn.models.factory import Model
from core.optim import build_schedule
from core.optim.config import OptimizerConfig
from core.probe.answer_parsing import parse_choice, parse_head, parse_number, parse_yes_no
from core.probe.cells_forward import CellInput, example_loss, sample_expressions, sample_traces
from core.probe.cells_training import RunFactory, adam_first_update, example_batch, short_run
from core.probe.gradcheck_report import gradient_check
from core.probe.lesson_cells import DEFAULT_EXPRESSION, compute_cell
from core.train.run import Run, RunConfig

ANSWER_KINDS: tuple[str, ...] = ("number", "yesno", "head", "choice")


@dataclass(frozen=True)
class Verdict:
    correct: bool
    measured: str  # what the model (or a run) shows, e.g. "ln 10 = 2.303; a fresh model measures 2.41"
    explanation: str
    understood: bool = True  # False: the answer could not be read (``explanation`` says what to type)
    applies: bool = True  # False: this check does not apply to this model


@dataclass
class ExerciseContext:
    """What checks may read: the model (never written), its task and, if known, its run config; short
    runs are built with ``run_factory``."""

    model: Model
    task: TaskConfig
    config: RunConfig | None = None
    run_factory: RunFactory = Run
    cache: dict[str, Any] = field(default_factory=dict)  # measurements reused between answers


Answer = Any  # float | bool | tuple[int, int] | int (choice index)


@dataclass(frozen=True)
class Check:
    name: str
    answer_kind: str
    params: Mapping[str, Any]  # parameter → default
    function: Callable[[ExerciseContext, Answer, dict[str, Any]], Verdict]
    summary: str


def _close(x: float, target: float, rel: float = 0.01, absolute: float = 1e-9) -> bool:
    return abs(x - target) <= max(absolute, rel * abs(target))


def _inp(ctx: ExerciseContext, text: str) -> CellInput:
    expression = parse_expression(text, ctx.task)
    return CellInput(ctx.model, ctx.task, text, expression, ctx.model.prompt_ids(expression))


def _number_verdict(x: float, target: float, measured: str, why: str, rel: float = 0.01,
                    absolute: float = 1e-9) -> Verdict:
    ok = _close(x, target, rel, absolute)
    return Verdict(ok, measured, ("Right. " if ok else f"Not quite: you said {x:g}. ") + why)


# -- tokens and sizes -------------------------------------------------------------------------------
def _vocab_size(ctx: ExerciseContext, x: float, p: dict[str, Any]) -> Verdict:
    n = ctx.model.config.vocab_size
    ops = n - len(SPECIAL_TOKENS) - len(DIGIT_TOKENS) - len(PUNCTUATION_TOKENS)
    return _number_verdict(x, n, f"{n} tokens", f"3 specials ([PAD], [EOS], =), 10 digits, {ops} operations and "
                           "( ) ,.", rel=0)


def _token_count(ctx: ExerciseContext, x: float, p: dict[str, Any]) -> Verdict:
    inp = _inp(ctx, p["expression"])
    extra = ' plus "=" (the decoder writes its answer after it)' if ctx.model.kind == "decoder" else ""
    return _number_verdict(x, len(inp.ids), f"{len(inp.ids)} tokens: {' '.join(inp.tokens)}",
                           f"Operation, parentheses, commas and one token per digit{extra}.", rel=0)


PARTS = ("model", "embedding", "block", "attention", "ffn", "layernorm", "head")


def _num_parameters(ctx: ExerciseContext, x: float, p: dict[str, Any]) -> Verdict:
    part = p["part"]
    if part not in PARTS:
        raise ConfigError(f"part must be one of {', '.join(PARTS)}, got {part!r}")
    prefix = {"model": "", "embedding": "embed.", "block": "blocks.0.", "attention": "blocks.0.attn.",
              "ffn": "blocks.0.ffn.", "layernorm": "blocks.0.ln1.", "head": "head."}[part]
    n = sum(t.size for t in ctx.model.params if t.name.startswith(prefix))
    c = ctx.model.config
    d, f, v = c.d_model, c.d_ff, c.vocab_size
    formula = {"model": "the sum of every tensor (see the param_count cell)", "embedding": f"vocab × d = {v}×{d}",
               "block": "attention + FFN + two LayerNorms", "attention": f"W_qkv d×3d + 3d, W_o d×d + d (d = {d})",
               "ffn": f"W₁ d×d_ff + d_ff, W₂ d_ff×d + d (d = {d}, d_ff = {f})", "layernorm": f"γ and β, 2×{d}",
               "head": f"d × outputs + outputs = {d}×{c.num_classes if c.kind == 'encoder' else v} + biases"}[part]
    return _number_verdict(x, n, f"{n:,} parameters in the {part}", f"It is {formula}.", rel=0)


def _readout_position(ctx: ExerciseContext, x: float, p: dict[str, Any]) -> Verdict:
    inp = _inp(ctx, p["expression"])
    r = inp.readout
    why = ("the encoder reads its answer at position 0, the operation token" if ctx.model.kind == "encoder"
           else 'the decoder predicts the first answer digit at the "=" (the prompt\'s last token)')
    return _number_verdict(x, r, f"position {r} ({inp.tokens[r]})", f"Counting from 0, {why}.", rel=0)


# -- attention ----------------------------------------------------------------------------------
def _attention_row_sum(ctx: ExerciseContext, x: float, p: dict[str, Any]) -> Verdict:
    tr = _inp(ctx, p["expression"]).trace
    w = np.concatenate([tr.block(i, "attn.softmax").sum(axis=-1).ravel() for i in range(tr.n_blocks)])
    return _number_verdict(x, 1.0, f"row sums from {w.min():.6f} to {w.max():.6f}",
                           "Softmax divides each exp(score) by the row's total, so every row is a distribution.")


def _masked_weight(ctx: ExerciseContext, x: float, p: dict[str, Any]) -> Verdict:
    res = compute_cell("attention_qk", ctx.model, p["expression"], ctx.task, pad=2)
    masked = res.tables[3].values
    weight = float(res.tables[4].values[np.isneginf(masked)].max())
    return _number_verdict(x, 0.0, f"largest weight on a masked key: {weight:.1e}",
                           "The mask adds −1e9 to the score and exp(−1e9) is 0 in floating point.", absolute=1e-6)


def _score_scale(ctx: ExerciseContext, x: float, p: dict[str, Any]) -> Verdict:
    dh = ctx.model.config.d_model // ctx.model.config.n_heads
    return _number_verdict(x, math.sqrt(dh), f"√dₕ = √{dh} = {math.sqrt(dh):.3f}",
                           "Scores are divided by √dₕ so that a dot product of dₕ unit-variance terms (variance dₕ) "
                           "has variance 1 again, and softmax does not saturate.")


def _head_dim(ctx: ExerciseContext, x: float, p: dict[str, Any]) -> Verdict:
    c = ctx.model.config
    return _number_verdict(x, c.d_model // c.n_heads, f"dₕ = {c.d_model}/{c.n_heads} = {c.d_model // c.n_heads}",
                           "The heads split d_model between them; W_o maps their concatenation back to d_model.",
                           rel=0)


def head_max_attention(ctx: ExerciseContext, n: int = 60) -> np.ndarray | None:
    """(L, H) mean attention, at the readout position, on the tokens of the largest argument of ``n`` Max
    expressions of the task (all its digits; ties count every copy); None if the task has no Max."""
    if "Max" not in ctx.task.operations:
        return None
    flat = TaskConfig(("Max",), ctx.task.max_value, ctx.task.min_args, ctx.task.max_args)
    sample = sample_traces(ctx.model, flat, n, seed=1)
    c = ctx.model.config
    out = np.zeros((c.n_layers, c.n_heads))
    for e, tr in sample:
        top = e.evaluate()
        positions: list[int] = []
        pos = 2  # after "Max ("
        for a in e.args:
            digits = len(str(a))
            if a == top:
                positions += range(pos, pos + digits)
            pos += digits + 1
        r = ctx.model.readout_position(len(tr.tokens))
        for li in range(c.n_layers):
            out[li] += tr.block(li, "attn.softmax")[:, r][:, np.array(positions)].sum(axis=1)
    return out / len(sample)


def _largest_head(ctx: ExerciseContext, ans: tuple[int, int], p: dict[str, Any]) -> Verdict:
    scores = ctx.cache.get("largest_head")
    if scores is None:
        scores = ctx.cache["largest_head"] = head_max_attention(ctx)
    if scores is None:
        return Verdict(False, "", "This task has no Max operation; train one with Max to ask this.", applies=False)
    best = np.unravel_index(int(np.argmax(scores)), scores.shape)
    layer, head = int(best[0]), int(best[1])
    ok = (layer, head) == ans
    yours = f"; head {ans[0]}.{ans[1]} gives it {scores[ans]:.2f}" if not ok else ""
    return Verdict(ok, f"head {layer}.{head} puts {scores[best]:.2f} of its attention on the largest argument "
                       f"(mean over 60 Max expressions){yours}",
                   "Look at the heads cell or the attention map (Inference pane, F4; ←/→ heads, ↑/↓ layers) for "
                   "a Max expression: that head's row lights up on the biggest number.")


# -- layers -------------------------------------------------------------------------------------
def _dead_units(ctx: ExerciseContext, yes: bool, p: dict[str, Any]) -> Verdict:
    layer = int(p["layer"])
    if not 0 <= layer < ctx.model.config.n_layers:
        return Verdict(False, "", f"this model has no layer {layer}", applies=False)
    traces = [t for _, t in sample_traces(ctx.model, ctx.task, p["sample"])]
    alive = (np.concatenate([t.block(layer, "ffn.fc1") for t in traces]) > 0).any(axis=0)  # fc1: pre-activations
    dead = int((~alive).sum())
    ok = yes == (dead > 0)
    return Verdict(ok, f"{dead} of {alive.size} FFN units of layer {layer} never fire on {len(traces)} expressions",
                   "A unit whose pre-activation stays ≤ 0 outputs 0 and, through a ReLU, gets no gradient either.")


def _fresh_loss(ctx: ExerciseContext, x: float, p: dict[str, Any]) -> Verdict:
    m = ctx.model
    n = m.config.num_classes if m.kind == "encoder" else m.config.vocab_size
    fresh = build_model(m.config, seed=int(p["seed"]))
    exprs = sample_expressions(fresh, ctx.task, 100, seed=2)
    losses = []
    for e in exprs[:40]:
        inp = CellInput(fresh, ctx.task, str(e), e, fresh.prompt_ids(e))
        losses.append(float(example_loss(inp)[2].mean()))
    target = math.log(n)
    ok = _close(x, target, rel=0.10)
    return Verdict(ok, f"ln {n} = {target:.3f}; a freshly initialised model of this shape measures "
                       f"{np.mean(losses):.3f} on 40 examples",
                   ("Right: " if ok else f"Not quite ({x:g}): ") + f"knowing nothing, it gives each of its {n} "
                   f"outputs p ≈ 1/{n}, and −log(1/{n}) = ln {n}. Random initial logits are not all equal, so "
                   "a real fresh model sits above ln N; how far depends on the initialisation.")


# -- gradients and optimisation -------------------------------------------------------------------
def _logit_gradient(ctx: ExerciseContext, x: float, p: dict[str, Any]) -> Verdict:
    inp = _inp(ctx, p["expression"])
    labels, prob, _ = example_loss(inp)
    g = float(prob[0]) - 1.0
    return _number_verdict(x, g, f"p(target) = {prob[0]:.4f} at {labels[0]}, so ∂L/∂z = {g:.4f}",
                           "For L = −log softmax(z)_y, ∂L/∂z_i = p_i − 1[i = y]: at the target it is p_y − 1.",
                           rel=0.02, absolute=0.01)


def _gradcheck(ctx: ExerciseContext, yes: bool, p: dict[str, Any]) -> Verdict:
    inp = _inp(ctx, p["expression"])
    report = gradient_check(ctx.model, example_batch(inp), max_elements_per_tensor=2, training=False)
    return Verdict(yes == report.passed, f"largest relative error {report.max_error:.1e} over "
                                         f"{sum(r.checked for r in report.rows)} sampled elements",
                   "Central differences (L(θ+h) − L(θ−h))/2h have error O(h²); backprop agrees to ~1e-8 in float64.")


def _adam_first_step(ctx: ExerciseContext, x: float, p: dict[str, Any]) -> Verdict:
    lr = float(p["lr"])
    g, dw, _ = adam_first_update(ctx.model, example_batch(_inp(ctx, DEFAULT_EXPRESSION)), lr)
    median = float(np.median(np.abs(dw[g != 0])))
    ok = median / 1.5 <= x <= median * 1.5
    return Verdict(ok, f"median |Δw| after one step at lr {lr:g}: {median:.3g}",
                   "At step 1, m̂ = g and v̂ = g², so m̂/√v̂ = ±1: each weight moves by about the "
                                      "learning rate, however large or small its gradient.")


def _warmup_lr(ctx: ExerciseContext, x: float, p: dict[str, Any]) -> Verdict:
    sched = build_schedule(OptimizerConfig(lr=float(p["lr"]), schedule="cosine", warmup_steps=int(p["warmup"]),
                                           total_steps=int(p["total"])))
    v = sched(int(p["step"]))
    return _number_verdict(x, v, f"lr at step {p['step']} = {v:.3g}",
                           "During warm-up the rate rises linearly: lr·(t+1)/warmup.", rel=0.05)


def _diverges(ctx: ExerciseContext, yes: bool, p: dict[str, Any]) -> Verdict:
    lr = float(p["lr"])
    run = short_run(ctx.task, ctx.model.kind, lr, int(p["steps"]), factory=ctx.run_factory)
    tail = float(np.mean(run.losses[-10:]))
    return Verdict(yes == run.diverged,
                   f"{len(run.losses)} steps at lr {lr:g}: loss {run.losses[0]:.2f} → {tail:.2f} (ln N = "
                   f"{run.baseline:.2f}) — {'diverged' if run.diverged else 'did not diverge'}",
                   "Adam moves each weight by about lr per step; past a point every step overshoots and the logits "
                   "grow until the model is confidently wrong, far above the ln N of knowing nothing.")


# -- the decoder -----------------------------------------------------------------------------------
def _answer_position(ctx: ExerciseContext, x: float, p: dict[str, Any]) -> Verdict:
    if ctx.model.kind != "decoder":
        return Verdict(False, "", "This question is about a decoder; load decoder-0-99 to answer it.", applies=False)
    return _readout_position(ctx, x, p)


def _tokens_generated(ctx: ExerciseContext, x: float, p: dict[str, Any]) -> Verdict:
    if ctx.model.kind != "decoder":
        return Verdict(False, "", "An encoder generates nothing; load decoder-0-99 to answer it.", applies=False)
    res = compute_cell("generation", ctx.model, p["expression"], ctx.task)
    n = len(res.tables[0].rows) if res.applies else 0
    return _number_verdict(x, n, f"{n} tokens: {', '.join(r.split(': ')[1] for r in res.tables[0].rows)}",
                           "One token per digit of the answer, then [EOS], which stops generation.", rel=0)


def _scale_ratio(ctx: ExerciseContext, x: float, p: dict[str, Any]) -> Verdict:
    ratio = float(p["reference"]) / ctx.model.num_parameters
    return _number_verdict(x, ratio, f"{float(p['reference']):.3g} / {ctx.model.num_parameters:,} = {ratio:.3g}",
                           "Within 10% counts: the point is the order of magnitude.", rel=0.10)


def _choice(ctx: ExerciseContext, index: int, p: dict[str, Any]) -> Verdict:
    options: Sequence[str] = p["options"]
    right = options.index(p["correct"])
    ok = index == right
    return Verdict(ok, f"answer: {options[right]}", p.get("why", "") or ("Right." if ok else "Read the section again."))


_EXPR = {"expression": DEFAULT_EXPRESSION}
CHECKS: dict[str, Check] = {c.name: c for c in (
    Check("vocab_size", "number", {}, _vocab_size, "tokens in the vocabulary"),
    Check("token_count", "number", _EXPR, _token_count, "tokens the model reads for an expression"),
    Check("num_parameters", "number", {"part": "model"}, _num_parameters, "parameters of a part of the model"),
    Check("readout_position", "number", _EXPR, _readout_position, "where the answer is read"),
    Check("attention_row_sum", "number", _EXPR, _attention_row_sum, "what each attention row sums to"),
    Check("masked_weight", "number", _EXPR, _masked_weight, "the weight a masked key gets"),
    Check("score_scale", "number", {}, _score_scale, "the number attention scores are divided by"),
    Check("head_dim", "number", {}, _head_dim, "the width of one head"),
    Check("largest_head", "head", {}, _largest_head, "the head that attends to the largest argument"),
    Check("dead_units", "yesno", {"layer": 0, "sample": 200}, _dead_units, "whether some FFN units never fire"),
    Check("fresh_loss", "number", {"seed": 1}, _fresh_loss, "the loss of a fresh model"),
    Check("logit_gradient", "number", _EXPR, _logit_gradient, "∂L/∂z at the target"),
    Check("gradcheck", "yesno", _EXPR, _gradcheck, "whether backprop matches finite differences"),
    Check("adam_first_step", "number", {"lr": 1e-3}, _adam_first_step, "how far Adam's first step moves a weight"),
    Check("warmup_lr", "number", {"lr": 2e-3, "warmup": 200, "total": 2000, "step": 99}, _warmup_lr,
          "the learning rate during warm-up"),
    Check("diverges", "yesno", {"lr": 1.0, "steps": 50}, _diverges, "whether a short run at this lr diverges"),
    Check("answer_position", "number", _EXPR, _answer_position, "where the decoder predicts the first digit"),
    Check("tokens_generated", "number", {"expression": "Max(31, 75, 2)"}, _tokens_generated,
          "how many tokens the decoder writes"),
    Check("scale_ratio", "number", {"reference": 175e9}, _scale_ratio, "how many times larger a real LLM is"),
    Check("choice", "choice", {"correct": "", "why": ""}, _choice, "a conceptual question with one right option"),
)}


def check_params(check: str, raw: Mapping[str, object], options: Sequence[str] = ()) -> dict[str, Any]:
    """The parameters of ``check`` from ``raw`` (defaults filled in), or ConfigError."""
    spec = CHECKS.get(check)
    if spec is None:
        raise ConfigError(f"unknown check {check!r}; known checks: {', '.join(CHECKS)}")
    unknown = sorted(set(raw) - set(spec.params))
    if unknown:
        raise ConfigError(f"check {check} has no parameter {unknown[0]!r} "
                          f"(its parameters: {', '.join(spec.params) or 'none'})")
    out: dict[str, Any] = {}
    for name, default in spec.params.items():
        value = raw.get(name, default)
        if isinstance(default, int | float) and not isinstance(default, bool) and isinstance(value, str):
            try:
                value = parse_number(value)
            except ValueError:
                raise ConfigError(f"{name} must be a number, got {value!r}") from None
        out[name] = value
    if spec.answer_kind == "choice":
        if len(options) < 2:
            raise ConfigError(f"a {check} exercise needs at least two options")
        if out.get("correct") not in options:
            raise ConfigError(f"correct must be one of the options ({' | '.join(options)}), got {out.get('correct')!r}")
        out["options"] = list(options)
    return out


def check_exercise(check: str, context: ExerciseContext, answer_text: str, options: Sequence[str] = (),
                   **params: object) -> Verdict:
    """Check the learner's ``answer_text`` for exercise ``check`` on ``context``'s model.

    Unreadable answers and expressions come back as a verdict (``understood = False``), never raised; an
    unknown check or a bad parameter raises ConfigError (a lesson's mistake, caught when it loads).
    """
    spec = CHECKS.get(check)
    values = check_params(check, params, options)
    assert spec is not None
    m = context.model
    try:
        if spec.answer_kind == "number":
            answer: Answer = parse_number(answer_text)
        elif spec.answer_kind == "yesno":
            answer = parse_yes_no(answer_text)
        elif spec.answer_kind == "head":
            answer = parse_head(answer_text, m.config.n_layers, m.config.n_heads)
        else:
            answer = parse_choice(answer_text, values["options"])
    except ValueError as exc:
        return Verdict(False, "", str(exc), understood=False)
    try:
        return spec.function(context, answer, values)
    except LLMLearnError as exc:  # e.g. the lesson's expression is outside this model's task
        return Verdict(False, "", str(exc), applies=False)
