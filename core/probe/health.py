"""Training health: a few figures with the usual healthy range and the reason each matters.

    update-to-weight ratio  ‖Δw‖ / ‖w‖ of the last step, per parameter. With Adam around 1e-3 is the usual
                            band (Karpathy's rule of thumb): far below (< 1e-5) the parameter has stopped
                            learning; far above (> 1e-2) each step rewrites a good part of it, so the lr is
                            too high for it.
    dead FFN units          the share of feed-forward units whose pre-activation is ≤ 0 on every token of a
                            sample of held-out inputs: through a ReLU they output 0 and get no gradient, so
                            they will never learn again. A few are normal; most of a layer is a lost layer.
    gradient spikes         how many steps had a gradient norm > 10× its recent level and ≥ 1 (``core.train.dynamics``):
                            a few are normal early on; many mean the lr or the data is too rough.

Computed on a copy of the model (or while the run is paused): ``training_health`` only reads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from core.data.batching import EncodedSplit
from core.nn.models.factory import Model
from core.optim.base import Optimizer
from core.probe.lab.activations import pad_mask_of, record
from core.train.dynamics import detect_events

UPDATE_BAND = (1e-5, 1e-2)  # outside this, the ratio is flagged; ~1e-3 is typical
EARLY_STEPS = 20  # before this, a high ratio is not flagged (a parameter that starts at 0 has ‖w‖ ≈ ‖Δw‖)
DEAD_WARN = 0.5  # a layer with more dead units than this share is flagged
SPIKES_WARN = 5
SAMPLE = 256


@dataclass(frozen=True)
class HealthFigure:
    """One figure: what it is, its value, "ok" / "low" / "high", and why that verdict."""

    name: str
    value: float
    verdict: str
    reason: str


SCHEDULED_DOWN = 0.05  # a learning rate below this share of the schedule's base is the schedule's doing


def update_ratios(model: Model, optimizer: Optimizer, base_lr: float | None = None) -> list[HealthFigure]:
    """‖Δw‖ / ‖w‖ of the last step for every parameter, against ``UPDATE_BAND``. With ``base_lr`` (the
    schedule's peak), a ratio below the band while the schedule has brought the lr under 5% of it is
    expected, not a parameter that stopped learning: the end of a cosine decay flagged every one."""
    if optimizer.step_count == 0:
        return []
    update = optimizer.last_update()
    out: list[HealthFigure] = []
    lo, hi = UPDATE_BAND
    base = base_lr if base_lr is not None else 0.0
    scheduled_down = base > 0 and optimizer.lr < SCHEDULED_DOWN * base
    for p in model.params:
        w = float(np.linalg.norm(p.value))
        ratio = float(np.linalg.norm(update[p.offset: p.offset + p.size])) / w if w > 0 else math.nan
        if not math.isfinite(ratio):
            verdict, reason = "?", "the weights are all zero"
        elif optimizer.step_count < EARLY_STEPS and ratio > hi:
            verdict, reason = "?", "the first steps: biases and norms that start at 0 move by a lot of themselves"
        elif ratio < lo and scheduled_down:
            verdict, reason = "ok", (f"small steps: the schedule has brought the lr down to {optimizer.lr:.2g} "
                                     f"({optimizer.lr / base:.1%} of {base:g})")
        elif ratio < lo:
            verdict, reason = "low", "barely moves: stopped learning (or its gradient is ~0)"
        elif ratio > hi:
            verdict, reason = "high", "each step changes it a lot: the learning rate is high for it"
        else:
            verdict, reason = "ok", "within the usual band (~1e-3)"
        out.append(HealthFigure(p.name, ratio, verdict, reason))
    return out


def dead_units(model: Model, split: EncodedSplit, sample: int = SAMPLE) -> list[HealthFigure]:
    """Per layer, the share of FFN units with a pre-activation ≤ 0 on every real token of ``sample`` rows."""
    n = min(sample, len(split.tokens))
    if n == 0:
        return []
    tokens = split.tokens[:n]
    lengths = split.lengths[:n]
    mask = pad_mask_of(tokens, lengths)
    points = [(layer, "neurons") for layer in range(model.config.n_layers)]
    acts, _ = record(model, tokens, points, mask)
    real = np.arange(tokens.shape[1])[None, :] < lengths[:, None]
    out: list[HealthFigure] = []
    for layer, name in points:
        fired = (acts[(layer, name)][real] > 0).any(axis=0)  # (d_ff,)
        share = float(1.0 - fired.mean())
        verdict = "high" if share > DEAD_WARN else "ok"
        reason = (f"{int((~fired).sum())} of {fired.size} units never fire on {n} held-out inputs"
                  + (": most of the layer gets no gradient" if verdict == "high" else ""))
        out.append(HealthFigure(f"layer {layer} dead FFN units", share, verdict, reason))
    return out


def gradient_spikes(series: Mapping[str, tuple[Sequence[int], Sequence[float]]]) -> HealthFigure:
    """How many gradient-norm spikes the run has had."""
    spikes = detect_events({"grad_norm": series.get("grad_norm", ([], []))})
    n = len(spikes)
    last = f"; the last at step {spikes[-1].step:,}" if spikes else ""
    return HealthFigure("gradient-norm spikes", float(n), "high" if n > SPIKES_WARN else "ok",
                        f"{n} step{'s' if n != 1 else ''} with a gradient norm > 10× its recent level and ≥ 1{last}")


def training_health(model: Model, optimizer: Optimizer, split: EncodedSplit | None,
                    series: Mapping[str, tuple[Sequence[int], Sequence[float]]],
                    base_lr: float | None = None) -> list[HealthFigure]:
    """Every figure: update ratios (read against the schedule's ``base_lr`` when given), dead units (when
    a split is given), gradient spikes."""
    figures = update_ratios(model, optimizer, base_lr)
    if split is not None:
        figures += dead_units(model, split)
    return [*figures, gradient_spikes(series)]
