"""Inverted dropout: during training keep each unit with probability 1−p and scale it by 1/(1−p),
so evaluation needs no rescaling. Backward multiplies by the same mask.

The random generator is passed in (owned by the model) so a run is reproducible from its seed.
"""

from __future__ import annotations

import numpy as np


class Dropout:
    def __init__(self, p: float, rng: np.random.Generator) -> None:
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p
        self.rng = rng
        self.training = True
        self._mask: np.ndarray | None = None

    @property
    def active(self) -> bool:
        return self.training and self.p > 0.0

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not self.active:
            self._mask = None
            return x
        keep = self.rng.random(x.shape) >= self.p
        self._mask = keep.astype(x.dtype) / (1.0 - self.p)
        return x * self._mask

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self._mask is None:
            return dout
        return dout * self._mask
