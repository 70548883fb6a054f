"""Adam and AdamW (Kingma & Ba 2015; Loshchilov & Hutter 2019).

    m ← β₁m + (1−β₁)g,   v ← β₂v + (1−β₂)g²
    m̂ = m/(1−β₁ᵗ),  v̂ = v/(1−β₂ᵗ),   w ← w − η·m̂/(√v̂ + ε)
Adam adds weight decay to the gradient (L2: g ← g + λw); AdamW decays the weights directly
(w ← w − ηλw), which does not get rescaled by √v̂. Decay skips biases and LayerNorm (``decay_mask``).

Flushing negligible state to 0 (``Optimizer.flush_state``, every 32 steps). The step of one entry is
    u = η·c₂/(1−β₁ᵗ) · m/(√v + ε·c₂),   c₂ = √(1−β₂ᵗ) ≥ √(1−β₂)
* m, limit 1e-30: an entry with |m| < 1e-30 has |u| ≤ η·|m|/((1−β₁ᵗ)·ε) < η·1e-30/((1−β₁)·ε) — 1e-24 with the
  defaults (η 1e-3, β₁ 0.9, ε 1e-8), 1e-17 at the options' extremes (η 10, β₁ 0.9999). That is below half
  a float32 ulp of any weight with |w| > 3.4e-17 (3.4e-10 at the extremes), so w − u rounds to w with or
  without the flush: those weights are bit-identical, and smaller ones move by less than the bound.
  What the value would add to later steps is β₁ᵏ times smaller still.
* v, limit 1e-37: √v < 3.2e-19, below half an ulp of ε·c₂ ≥ 3.2e-11 (ε ≥ 1e-8, any β₂ ≤ 0.99999), so
  √v + ε·c₂ rounds to ε·c₂ either way: the update is bit-identical, and later values of v differ by
  less than 1e-37. (For ε < 1e-8 the denominator changes by at most 3.2e-19.)
"""

from __future__ import annotations

import math

import numpy as np

from core.nn.params import ParameterStore
from core.optim.base import Optimizer


class Adam(Optimizer):
    state_names = ("m", "v")
    flush_below = (("m", 1e-30), ("v", 1e-37))  # why these are exact: the module docstring
    decoupled = False

    def __init__(
        self,
        params: ParameterStore,
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ):
        super().__init__(params, lr, weight_decay)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self._tmp = np.zeros_like(params.data)

    def _update(self, w: np.ndarray, g: np.ndarray) -> None:
        mask = self.params.decay_mask
        m, v, tmp = self.state["m"], self.state["v"], self._tmp
        b1, b2, t = self.beta1, self.beta2, self.step_count
        if self.weight_decay and not self.decoupled:
            g = g + self.weight_decay * w * mask
        if self.weight_decay and self.decoupled:
            np.multiply(w, mask, out=tmp)
            tmp *= self.lr * self.weight_decay
            w -= tmp
        # In place, no temporaries: m ← m + (1−β₁)(g − m),  v ← v + (1−β₂)(g² − v)
        np.subtract(g, m, out=tmp)
        tmp *= 1.0 - b1
        m += tmp
        np.multiply(g, g, out=tmp)
        tmp -= v
        tmp *= 1.0 - b2
        v += tmp
        # η·m̂/(√v̂ + ε) = η·√(1−β₂ᵗ)/(1−β₁ᵗ) · m/(√v + ε·√(1−β₂ᵗ)): bias corrections become scalars
        c2 = math.sqrt(1.0 - b2**t)  # Python floats: NumPy scalars would make float32 passes run in float64
        np.sqrt(v, out=tmp)
        tmp += self.eps * c2
        np.divide(m, tmp, out=tmp)
        tmp *= self.lr * c2 / (1.0 - b1**t)
        w -= tmp

    def last_update(self) -> np.ndarray:
        return self._tmp


class AdamW(Adam):
    decoupled = True
