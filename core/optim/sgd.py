"""SGD with (heavy-ball) momentum and L2 weight decay:
    g ← g + λ·w·mask,   v ← μ·v + g,   w ← w − η·v

Velocity entries with |v| < 1e-30 are flushed to 0 every 32 steps (``Optimizer.flush_state``): their step
|η·v| < 1e-29 (η ≤ 10) is below half a float32 ulp of any weight with |w| > 4e-22, so w − η·v rounds to w
with or without the flush, and in v ← μ·v + g the value is lost in the rounding of any g above ~1e-22.
"""

from __future__ import annotations

import numpy as np

from core.nn.params import ParameterStore
from core.optim.base import Optimizer


class SGD(Optimizer):
    state_names = ("velocity",)
    flush_below = (("velocity", 1e-30),)

    def __init__(self, params: ParameterStore, lr: float, momentum: float = 0.9, weight_decay: float = 0.0):
        super().__init__(params, lr, weight_decay)
        self.momentum = float(momentum)
        self._update_buf = np.zeros_like(params.data)

    def _update(self, w: np.ndarray, g: np.ndarray) -> None:
        if self.weight_decay:
            g = g + self.weight_decay * w * self.params.decay_mask
        v = self.state["velocity"]
        v *= self.momentum
        v += g
        np.multiply(v, self.lr, out=self._update_buf)
        w -= self._update_buf

    def last_update(self) -> np.ndarray:
        return self._update_buf
