"""The optimizer's update of one parameter, from this one example's gradient.

The training step (``core.train.trainer.Trainer.train_step``) clips the whole gradient by its global
norm, g ← g · min(1, c/‖g‖), then steps with learning rate η = schedule(t) · lr_scale:

    Adam:   g ← g + λw (L2; AdamW instead subtracts ηλw from w)
            m ← β₁m + (1−β₁)g,   v ← β₂v + (1−β₂)g²,   m̂ = m/(1−β₁ᵗ),   v̂ = v/(1−β₂ᵗ)
            step = η·m̂/(√v̂ + ε),   w ← w − step
    SGD:    g ← g + λw,   v ← μv + g,   step = η·v,   w ← w − step

written out here element by element (the optimizer itself folds the bias corrections into scalars);
a test checks the two give the same new weights. Decay applies only to parameters with ``decay``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.errors import ConfigError
from core.nn.params import ParameterStore
from core.optim import build_optimizer, build_schedule
from core.optim.adam import Adam
from core.optim.base import Optimizer
from core.optim.config import OptimizerConfig
from core.optim.sgd import SGD
from core.probe.trace.stage import Stage, to_list
from core.train.checkpoint import Checkpoint
from core.train.checkpoint.format import EDITABLE


@dataclass
class UpdateTrace:
    param: str
    optimizer: str
    step: int  # t: the number of the step this update would be
    lr: float
    grad_norm: float  # ‖g‖ of the whole gradient before clipping
    clip_norm: float
    clip_scale: float  # the factor clipping multiplied every gradient by (1: not clipped)
    settings: dict[str, float] = field(default_factory=dict)
    stages: list[Stage] = field(default_factory=list)

    def value(self, name: str) -> np.ndarray:
        return next(s.values for s in self.stages if s.name == f"update.{name}")

    def to_dict(self) -> dict[str, Any]:
        return {"param": self.param, "optimizer": self.optimizer, "step": self.step, "lr": self.lr,
                "grad_norm": self.grad_norm, "clip_norm": self.clip_norm, "clip_scale": self.clip_scale,
                "settings": self.settings, "stages": [s.to_dict() for s in self.stages],
                "ratio": to_list(self.value("ratio"))}


def checkpoint_optimizer(ck: Checkpoint, params: ParameterStore) -> tuple[Optimizer, float, float]:
    """The checkpoint's optimizer over ``params`` with its saved state and settings, the learning rate of
    its next step and its clip norm — what ``Checkpoint.build_run`` restores, without the dataset."""
    opt = build_optimizer(ck.config.optimizer, params)
    opt.load_state_dict(ck.tensors)
    s = ck.state
    for key, value in s.get("optimizer", {}).items():
        if key in EDITABLE and hasattr(opt, key):
            setattr(opt, key, float(value))
    lr = build_schedule(ck.config.optimizer)(opt.step_count) * float(s.get("lr_scale", 1.0))
    return opt, lr, float(s.get("clip_norm", ck.config.optimizer.clip_norm))


def fresh_optimizer(config: OptimizerConfig, params: ParameterStore) -> tuple[Optimizer, float, float]:
    """A new optimizer (zero state, step 0), its first learning rate and clip norm."""
    return build_optimizer(config, params), build_schedule(config)(0), config.clip_norm


def largest_gradient(grads: dict[str, np.ndarray]) -> str:
    return max(grads, key=lambda n: float(np.linalg.norm(grads[n])))


def trace_update(optimizer: Optimizer, values: dict[str, np.ndarray], grads: dict[str, np.ndarray],
                 param: str | None, lr: float, clip_norm: float) -> UpdateTrace:
    """The update ``optimizer`` (its state and settings are only read) would make to ``param`` (default:
    the parameter with the largest gradient norm) from the gradients ``grads``, at learning rate ``lr``."""
    name = param or largest_gradient(grads)
    if name not in grads:
        near = [n for n in grads if name.split(".")[0] in n][:6] or list(grads)[:6]
        raise ConfigError(f"no parameter named {name!r} (for example: {', '.join(near)})")
    norm = math.sqrt(sum(float(np.sum(g * g)) for g in grads.values()))
    scale = clip_norm / (norm + 1e-12) if clip_norm > 0 and norm > clip_norm else 1.0
    w = values[name]
    g = grads[name] * scale
    decay = 1.0 if optimizer.params[name].decay else 0.0
    state = {k: v.astype(np.float64) for k, v in optimizer.state_for(name).items()}
    t = optimizer.step_count + 1
    lam = optimizer.weight_decay
    out = UpdateTrace(name, type(optimizer).__name__, t, lr, norm, clip_norm, scale)
    stages = out.stages

    def add(key: str, title: str, formula: str, value: np.ndarray, note: str = "") -> np.ndarray:
        stages.append(Stage(f"update.{key}", title, formula, np.asarray(value, dtype=np.float64), note=note))
        return value

    add("w", "weights now", "w", w)
    clipped = f"clipped: ‖g‖ = {norm:.4g} > {clip_norm:g}, so × {scale:.4g}" if scale < 1 else \
        f"‖g‖ = {norm:.4g}, not clipped (clip norm {clip_norm:g})"
    add("g", "gradient g (this example)", "g = dL/dw · min(1, c/‖g‖)", g, clipped)
    if isinstance(optimizer, Adam):
        b1, b2, eps = optimizer.beta1, optimizer.beta2, optimizer.eps
        out.settings = {"beta1": b1, "beta2": b2, "eps": eps, "weight_decay": lam}
        if lam and not optimizer.decoupled and decay:
            g = add("g_decay", "gradient with L2 decay", f"g ← g + λw,  λ = {lam:g}", g + lam * w)
        m = add("m", "first moment m", f"m ← β₁m + (1−β₁)g,  β₁ = {b1:g}", state["m"] + (1.0 - b1) * (g - state["m"]),
                "a running mean of the gradient")
        v = add("v", "second moment v", f"v ← β₂v + (1−β₂)g²,  β₂ = {b2:g}",
                state["v"] + (1.0 - b2) * (g * g - state["v"]), "a running mean of the squared gradient")
        m_hat = add("m_hat", "bias-corrected m̂", f"m̂ = m/(1−β₁ᵗ),  t = {t}", m / (1.0 - b1**t),
                    "m and v start at 0: dividing by 1−βᵗ undoes the pull towards 0 of the first steps")
        v_hat = add("v_hat", "bias-corrected v̂", f"v̂ = v/(1−β₂ᵗ),  t = {t}", v / (1.0 - b2**t))
        step = add("step", "step", f"step = η·m̂/(√v̂ + ε),  η = {lr:.4g},  ε = {eps:g}",
                   lr * m_hat / (np.sqrt(v_hat) + eps), "about η·sign(g) when the gradient is steady: Adam's "
                   "step size is set by η, not by the gradient's scale")
        if lam and optimizer.decoupled and decay:
            step = add("decay", "step with decoupled decay", f"step ← step + ηλw,  λ = {lam:g}",
                       step + lr * lam * w)
    elif isinstance(optimizer, SGD):
        mu = optimizer.momentum
        out.settings = {"momentum": mu, "weight_decay": lam}
        if lam and decay:
            g = add("g_decay", "gradient with L2 decay", f"g ← g + λw,  λ = {lam:g}", g + lam * w)
        v = add("velocity", "velocity v", f"v ← μv + g,  μ = {mu:g}", mu * state["velocity"] + g,
                "momentum: a decaying sum of past gradients")
        step = add("step", "step", f"step = η·v,  η = {lr:.4g}", lr * v)
    else:
        raise ConfigError(f"the trace does not know the {type(optimizer).__name__} optimizer")
    new = add("w_new", "weights after", "w ← w − step", w - step)
    delta = add("delta", "change Δw", "Δw = w_new − w", new - w)
    w_norm = float(np.linalg.norm(w))
    add("ratio", "update-to-weight ratio", "‖Δw‖ / ‖w‖", np.asarray(float(np.linalg.norm(delta)) / w_norm
                                                                        if w_norm else math.nan),
        "around 1e-3 is the usual healthy range: much larger and training is unstable, much smaller and it stalls")
    return out
