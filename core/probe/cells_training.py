"""Live cells of learning: the gradient of one example, one Adam step, learning-rate schedules, short runs at
several learning rates, and the decoder's teacher forcing, generation and temperature.

Nothing here writes the learner's model: gradients and optimizer steps run on a float64 copy
(``copy_model``), short runs build runs of their own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.data.batching import Batch, encode_examples, make_batch
from core.data.dataset import DatasetConfig, Example
from core.data.task import TaskConfig
from core.data.vocab import VOCAB
from core.errors import ConfigError
from core.nn.layers.softmax import softmax
from core.nn.models import copy_model
from core.nn.models.decoder import TransformerDecoder
from core.nn.models.factory import Model
from core.optim import build_schedule
from core.optim.adam import Adam
from core.optim.config import OptimizerConfig
from core.probe.cell_table import CellResult, Table, not_applicable
from core.probe.cells_forward import CellInput, check_layer_head, readout_logits
from core.probe.generation import generate_answer
from core.probe.gradcheck_report import gradient_check
from core.probe.trace import trace_forward
from core.train.objective import forward_loss
from core.train.run import Run, RunConfig

RunFactory = Callable[[RunConfig], Run]


def example_batch(inp: CellInput) -> Batch:
    """The one-row training batch of the cell's expression (its true answer as the target)."""
    split = encode_examples([Example(inp.expression, inp.truth)], inp.task, inp.model.kind)
    return make_batch(split, np.array([0]))


def example_gradient(model: Model, batch: Batch) -> tuple[Model, float]:
    """A float64 copy of ``model`` whose ``params.grad`` holds ∂L/∂θ of ``batch``, and the loss L."""
    copy = copy_model(model, dtype=np.float64, training=False)
    result = forward_loss(copy, batch)
    copy.params.zero_grad()
    copy.backward(result.dlogits)
    return copy, result.loss


def _selected(model: Model, layer: int) -> list[str]:
    return [n for n in model.params.names() if not n.startswith("blocks.") or n.startswith(f"blocks.{layer}.")]


def cell_gradients(inp: CellInput, layer: int = 0) -> CellResult:
    why = check_layer_head(inp.model, layer)
    if why:
        return not_applicable("gradients", "Gradients", why)
    batch = example_batch(inp)
    copy, loss = example_gradient(inp.model, batch)
    report = gradient_check(inp.model, batch, max_elements_per_tensor=2, training=False)
    errors = {r.name: r.max_rel_error for r in report.rows}
    names = _selected(copy, layer)
    vals = [[np.linalg.norm(copy.params[n].value), np.linalg.norm(copy.params[n].grad), errors[n]] for n in names]
    return CellResult("gradients", "Backpropagation of this example",
                      "∂L/∂θ for every tensor, by the chain rule from the loss back to the embeddings; the last "
                      "column compares sampled elements with central differences (L(θ+h) − L(θ−h))/2h, h = 1e-6, "
                      "on random targets (so the gradients are large enough to measure).",
                      [Table(f"L = {loss:.4f}", names, ["‖w‖", "‖∂L/∂w‖", "FD rel. err"], np.array(vals, float), 4)],
                      [f"largest finite-difference error {report.max_error:.1e} "
                       f"({'pass' if report.passed else 'FAIL'})"],
                      [("gradient_check", {}), ("inspector", {"param": names[0]})])


def adam_first_update(model: Model, batch: Batch, lr: float) -> tuple[np.ndarray, np.ndarray, Adam]:
    """(g, Δw, the optimizer) of a first Adam step on ``batch``, taken on a float64 copy of ``model``."""
    copy, _ = example_gradient(model, batch)
    opt = Adam(copy.params, lr)
    before = copy.params.data.copy()
    g = copy.params.grad.copy()
    opt.step()
    return g, copy.params.data - before, opt


def cell_adam_step(inp: CellInput, lr: float = 1e-3, top: int = 6) -> CellResult:
    g, dw, opt = adam_first_update(inp.model, example_batch(inp), lr)
    copy = opt.params
    idx = np.argsort(-np.abs(g), kind="stable")[: max(1, top)]
    owners = {i: p.name for p in copy for i in idx if p.offset <= i < p.offset + p.size}
    m, v = opt.state["m"], opt.state["v"]
    b1, b2 = opt.beta1, opt.beta2
    vals = np.stack([g[idx], m[idx], v[idx], m[idx] / (1 - b1), v[idx] / (1 - b2), dw[idx]], 1)
    moved = np.abs(dw[g != 0])
    return CellResult("adam_step", f"One Adam step (lr = {lr:g})",
                      "m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ), Δw = −lr·m̂/(√v̂ + ε). "
                      "At t = 1, m̂ = g and v̂ = g², so every weight with a gradient moves by ≈ lr, whatever |g| is.",
                      [Table("the elements with the largest gradient", [owners[int(i)] for i in idx],
                             ["g", "m", "v", "m̂", "v̂", "Δw"], vals, 4)],
                      [f"median |Δw| over {moved.size} weights with a gradient: {np.median(moved):.3g} (lr = {lr:g})"],
                      [("training", {"chart": "lr"})])


def cell_lr_schedule(inp: CellInput, lr: float = 2e-3, warmup: int = 200, total: int = 2000,
                     min_lr: float = 1e-5, schedule: str = "cosine") -> CellResult:
    try:
        config = OptimizerConfig(lr=lr, schedule=schedule, warmup_steps=warmup, total_steps=total, min_lr=min_lr)
    except ConfigError as exc:
        return not_applicable("lr_schedule", "Learning-rate schedule", str(exc))
    sched = build_schedule(config)
    steps = sorted({0, warmup // 2, max(0, warmup - 1), *(round(total * f) for f in (0.25, 0.5, 0.75)), total - 1})
    return CellResult("lr_schedule", f"The {schedule} schedule",
                      "Warm-up: lr·(t+1)/warmup; cosine: min_lr + ½(lr − min_lr)(1 + cos(π·progress)); constant: lr.",
                      [Table("learning rate at step t", [f"step {s}" for s in steps], ["lr"],
                             np.array([[sched(s)] for s in steps]), 6)], [], [("training", {"chart": "lr"})])


@dataclass
class ShortRun:
    lr: float
    losses: list[float]
    baseline: float  # ln N: the loss of a model that knows nothing

    @property
    def diverged(self) -> bool:
        """Non-finite, or the last ten losses far above ln N (confidently wrong, not just unlearned)."""
        tail = self.losses[-10:]
        return not all(math.isfinite(x) for x in self.losses) or float(np.mean(tail)) > 1.5 * self.baseline


def short_run(task: TaskConfig, kind: str, lr: float, steps: int = 50, seed: int = 0,
              factory: RunFactory = Run) -> ShortRun:
    """``steps`` Adam steps of a tiny model (d_model 16, one block) of ``kind`` on ``task`` at ``lr``."""
    data = DatasetConfig(task, n_train=640, n_val=0, n_test=0, seed=seed)
    config = RunConfig.create(data, kind=kind, seed=seed, epochs=1000, d_model=16, n_layers=1, n_heads=2, d_ff=32,
                              optimizer=OptimizerConfig(lr=lr, batch_size=32))
    run = factory(config)
    losses = [run.train_step().loss for _ in range(steps)]
    n = task.num_classes if kind == "encoder" else config.model.vocab_size
    return ShortRun(lr, losses, math.log(n))


def cell_lr_sweep(inp: CellInput, lrs: str = "0.001,0.01,0.1,1", steps: int = 50) -> CellResult:
    try:
        rates = [float(x) for x in lrs.replace(";", ",").split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"lrs must be numbers separated by commas, got {lrs!r}") from None
    if not rates or any(not 0 < r <= 10 for r in rates):
        raise ConfigError("every lr of lrs must be in (0, 10]")
    runs = [short_run(inp.task, inp.model.kind, r, steps) for r in rates]
    marks = sorted({1, 10, steps // 2, steps})
    vals = [[r.losses[s - 1] for s in marks] + [float(r.diverged)] for r in runs]
    return CellResult("lr_sweep", f"{steps} steps at each learning rate",
                      "A tiny model (d_model 16, one block) of this task, trained from scratch with Adam at each lr. "
                      f"ln N = {runs[0].baseline:.3f} is where a model that knows nothing sits; a run whose loss "
                      "climbs far above it has diverged (1 in the last column).",
                      [Table("loss at step", [f"lr {r:g}" for r in rates], [*(f"{s}" for s in marks), "diverged"],
                             np.array(vals, float), 3)], [], [("training", {"chart": "loss"})])


def cell_teacher_forcing(inp: CellInput) -> CellResult:
    if not isinstance(inp.model, TransformerDecoder):
        return not_applicable("teacher_forcing", "Teacher forcing", "an encoder classifies in one step; "
                              "teacher forcing is how a decoder is trained")
    batch = example_batch(inp)
    tokens, targets = batch.tokens[0], batch.targets[0]
    assert batch.loss_mask is not None
    p = softmax(trace_forward(inp.model, [int(i) for i in tokens]).values("logits"))  # (T, V): every position
    rows = [f"{t} {VOCAB.tokens[a]} → {VOCAB.tokens[b]}" for t, (a, b) in enumerate(zip(tokens, targets, strict=True))]
    vals = np.stack([batch.loss_mask[0], p[np.arange(len(tokens)), targets]], 1)
    return CellResult("teacher_forcing", "Teacher forcing",
                      "Training row = expression = answer [EOS]. Input: the row without its last token; target: "
                      "the row shifted by one. One causal forward predicts every next token at once; the loss mask "
                      "scores only the answer's digits and [EOS].",
                      [Table("input → target", rows, ["loss mask", "p(target)"], vals, 3)], [],
                      [("generation", {"expression": inp.text})])


def cell_generation(inp: CellInput, strategy: str = "greedy", temperature: float = 1.0, top_k: int = 0,
                    beam_width: int = 3, seed: int = 0) -> CellResult:
    if not isinstance(inp.model, TransformerDecoder):
        return not_applicable("generation", "Generation", "an encoder answers with one class; it writes no tokens")
    res = generate_answer(inp.model, inp.task, inp.text, strategy, temperature, top_k, beam_width, seed)
    if res.error:
        return not_applicable("generation", "Generation", res.error)
    cols: list[str] = []
    for step in res.steps:
        cols += [t for t, _ in step[:3] if t not in cols]
    vals = np.full((len(res.steps), len(cols)), np.nan)
    for s, step in enumerate(res.steps):
        for t, pr in step:
            if t in cols:
                vals[s, cols.index(t)] = pr
    rows = [f"step {s + 1}: {t}" for s, t in enumerate(res.tokens)]
    return CellResult("generation", f"{strategy} generation of {inp.expression}",
                      "Each step: one forward over prompt + tokens so far, p = softmax(z_last), pick a token "
                      "(greedy: the most likely; sample: draw from softmax(z/T); beam: keep the best partial "
                      "sequences), append it, stop at [EOS].",
                      [Table("p of the likeliest tokens at each step", rows, cols, vals, 3)],
                      [f"answer {res.answer} (true {res.truth}), P(sequence) = {res.probability:.4f}"],
                      [("generation", {"expression": inp.text, "strategy": strategy})])


def cell_temperature(inp: CellInput, temperatures: str = "0.5,1,2", top: int = 6) -> CellResult:
    try:
        temps = [float(x) for x in temperatures.replace(";", ",").split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"temperatures must be numbers separated by commas, got {temperatures!r}") from None
    if not temps or any(not 0 < t <= 100 for t in temps):
        raise ConfigError("every temperature must be in (0, 100]")
    z, labels = readout_logits(inp)
    order = np.argsort(-z, kind="stable")[: max(1, top)]
    vals = np.stack([softmax(z / t)[order] for t in temps])
    return CellResult("temperature", "Temperature",
                      "p_T = softmax(z / T): T < 1 sharpens the distribution towards the top logit (T → 0 is greedy), "
                      "T > 1 flattens it towards uniform. The ranking never changes, only how sure the draw is.",
                      [Table(f"p at position {inp.readout}", [f"T = {t:g}" for t in temps],
                             [str(labels[i]) for i in order], vals, 3)], [],
                      [("generation", {"expression": inp.text, "strategy": "sample"})])
