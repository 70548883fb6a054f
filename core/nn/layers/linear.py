"""Linear layer: y = x W + b.

Backward, for upstream gradient G = dL/dy:
    dL/dW = xᵀ G,   dL/db = Σ_rows G,   dL/dx = G Wᵀ
W is stored (in, out) so the forward is one GEMM on row-major activations.
"""

from __future__ import annotations

import numpy as np

from core.nn.layers.reductions import col_sum
from core.nn.params import ParameterStore


class Linear:
    def __init__(
        self,
        store: ParameterStore,
        name: str,
        d_in: int,
        d_out: int,
        rng: np.random.Generator,
        bias: bool = True,
        init_std: float | None = None,
    ) -> None:
        # Xavier/Glorot uniform by default: keeps activation variance roughly constant through depth.
        if init_std is None:
            limit = np.sqrt(6.0 / (d_in + d_out))
            w = rng.uniform(-limit, limit, size=(d_in, d_out))
        else:
            w = rng.normal(0.0, init_std, size=(d_in, d_out))
        self.w = store.create(f"{name}.w", w, decay=True)
        self.b = store.create(f"{name}.b", np.zeros(d_out), decay=False) if bias else None
        self._x: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        y = x @ self.w.value
        if self.b is not None:
            y += self.b.value
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x = self._x
        assert x is not None, "backward called before forward"
        np.matmul(x.T, dout, out=self.w.grad)
        if self.b is not None:
            # column sums as a matrix–vector product: several times faster than dout.sum(axis=0) here
            col_sum(dout, out=self.b.grad)
        return dout @ self.w.value.T
