"""Token embedding: row lookup E[ids].

Backward scatters the upstream rows back to the looked-up token rows. With a small vocabulary
(~21 tokens) that scatter is fastest as a GEMM with the one-hot matrix:  dE = onehot(ids)ᵀ · G.
"""

from __future__ import annotations

import numpy as np

from core.nn.params import ParameterStore


class Embedding:
    def __init__(self, store: ParameterStore, name: str, vocab_size: int, dim: int, rng: np.random.Generator):
        # N(0, 1) like torch.nn.Embedding: the same scale as the sinusoidal position signal it is added to.
        self.table = store.create(f"{name}.weight", rng.normal(0.0, 1.0, (vocab_size, dim)), decay=True)
        self.vocab_size = vocab_size
        self._ids: np.ndarray | None = None

    def forward(self, ids: np.ndarray) -> np.ndarray:
        """ids (B, T) int → (B·T, dim)."""
        flat = ids.reshape(-1)
        if flat.size and (flat.min() < 0 or flat.max() >= self.vocab_size):
            raise ValueError(f"token ids must be in [0, {self.vocab_size})")
        self._ids = flat
        return self.table.value[flat]

    def backward(self, dout: np.ndarray) -> None:
        ids = self._ids
        assert ids is not None, "backward called before forward"
        onehot = np.zeros((ids.size, self.vocab_size), dtype=dout.dtype)
        onehot[np.arange(ids.size), ids] = 1.0
        np.matmul(onehot.T, dout, out=self.table.grad)
