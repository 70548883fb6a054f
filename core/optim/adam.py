"""Adam and AdamW (Kingma & Ba 2015; Loshchilov & Hutter 2019).

    m ← β₁m + (1−β₁)g,   v ← β₂v + (1−β₂)g²
    m̂ = m/(1−β₁ᵗ),  v̂ = v/(1−β₂ᵗ),   w ← w − η·m̂/(√v̂ + ε)
Adam adds weight decay to the gradient (L2: g ← g + λw); AdamW decays the weights directly
(w ← w − ηλw), which does not get rescaled by √v̂. Decay skips biases and LayerNorm (``decay_mask``).
"""

from __future__ import annotations

import math

import numpy as np

from core.nn.params import ParameterStore
from core.optim.base import Optimizer


class Adam(Optimizer):
    state_names = ("m", "v")
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
