"""Position signals added to the token embeddings (attention itself is order-blind).

Sinusoidal (Vaswani et al.), fixed:  PE[t, 2i] = sin(t / 10000^(2i/d)),  PE[t, 2i+1] = cos(t / 10000^(2i/d))
Learned: a (max_len, d) table; its gradient is the upstream gradient summed over the batch.
Right padding keeps every real token at the same position whatever the padding, which is what makes
the models' outputs independent of how much padding a batch carries.
"""

from __future__ import annotations

import numpy as np

from core.nn.params import ParameterStore


def sinusoidal_table(max_len: int, dim: int) -> np.ndarray:
    pos = np.arange(max_len)[:, None]
    i = np.arange(0, dim, 2)[None, :]
    angle = pos / np.power(10000.0, i / dim)
    table = np.zeros((max_len, dim))
    table[:, 0::2] = np.sin(angle)
    table[:, 1::2] = np.cos(angle[:, : dim // 2])
    return table


class SinusoidalPositions:
    def __init__(self, max_len: int, dim: int, dtype: np.dtype) -> None:
        self.table = sinusoidal_table(max_len, dim).astype(dtype)
        self.max_len = max_len

    def forward(self, x: np.ndarray, batch: int, time: int) -> np.ndarray:
        """x (B·T, d) → x + PE[:T] broadcast over the batch."""
        _check_length(time, self.max_len)
        d = x.shape[-1]
        return (x.reshape(batch, time, d) + self.table[:time]).reshape(batch * time, d)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout


class LearnedPositions:
    def __init__(self, store: ParameterStore, name: str, max_len: int, dim: int, rng: np.random.Generator):
        self.table = store.create(f"{name}.weight", rng.normal(0.0, 0.5, (max_len, dim)), decay=True)
        self.max_len = max_len
        self._bt: tuple[int, int] = (0, 0)

    def forward(self, x: np.ndarray, batch: int, time: int) -> np.ndarray:
        _check_length(time, self.max_len)
        self._bt = (batch, time)
        d = x.shape[-1]
        return (x.reshape(batch, time, d) + self.table.value[:time]).reshape(batch * time, d)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        batch, time = self._bt
        d = dout.shape[-1]
        self.table.grad[time:] = 0.0
        np.sum(dout.reshape(batch, time, d), axis=0, out=self.table.grad[:time])
        return dout


def _check_length(time: int, max_len: int) -> None:
    if time > max_len:
        raise ValueError(f"sequence of {time} tokens is longer than the model's max_len {max_len}")
