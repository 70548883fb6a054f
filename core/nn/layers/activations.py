"""Element-wise activations.

ReLU:  y = max(x, 0),  dy/dx = 1[x > 0]
GELU (tanh approximation, as in GPT-2 and ``torch.nn.GELU(approximate="tanh")``):
    u = √(2/π)·(x + 0.044715·x³),  y = ½·x·(1 + tanh u)
    dy/dx = ½(1 + tanh u) + ½·x·(1 − tanh² u)·√(2/π)·(1 + 3·0.044715·x²)
"""

from __future__ import annotations

import numpy as np

_SQRT_2_OVER_PI = float(np.sqrt(2.0 / np.pi))
_GELU_C = 0.044715


class ReLU:
    def __init__(self) -> None:
        self._positive: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        # x·1[x>0] rather than np.maximum(x, 0): two cheap passes beat one slow one here
        self._positive = x > 0
        return x * self._positive

    def backward(self, dout: np.ndarray) -> np.ndarray:
        assert self._positive is not None, "backward called before forward"
        return dout * self._positive


class GELU:
    def __init__(self) -> None:
        self._x: np.ndarray | None = None
        self._t: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        t = np.tanh(_SQRT_2_OVER_PI * (x + _GELU_C * x * x * x))
        self._x, self._t = x, t
        return 0.5 * x * (1.0 + t)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x, t = self._x, self._t
        assert x is not None and t is not None, "backward called before forward"
        du = _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_C * x * x)
        return dout * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du)


def make_activation(name: str) -> ReLU | GELU:
    if name == "relu":
        return ReLU()
    if name == "gelu":
        return GELU()
    raise ValueError(f"unknown activation {name!r} (expected 'relu' or 'gelu')")
