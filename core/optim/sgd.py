"""SGD with (heavy-ball) momentum and L2 weight decay:
    g ← g + λ·w·mask,   v ← μ·v + g,   w ← w − η·v
"""

from __future__ import annotations

import numpy as np

from core.nn.params import ParameterStore
from core.optim.base import Optimizer


class SGD(Optimizer):
    state_names = ("velocity",)

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
