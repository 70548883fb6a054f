"""Layer normalisation over the feature axis.

Forward:  μ = mean(x),  σ² = var(x),  x̂ = (x − μ)/√(σ² + ε),  y = γ ⊙ x̂ + β
Backward (per row, N features, g = γ ⊙ dy):
    dx = (1/N) · (1/√(σ²+ε)) · (N·g − Σg − x̂ · Σ(g ⊙ x̂))
    dγ = Σ_rows dy ⊙ x̂,  dβ = Σ_rows dy
"""

from __future__ import annotations

import numpy as np

from core.params import ParameterStore


class LayerNorm:
    def __init__(self, store: ParameterStore, name: str, dim: int, eps: float = 1e-5) -> None:
        self.gamma = store.create(f"{name}.gamma", np.ones(dim), decay=False)
        self.beta = store.create(f"{name}.beta", np.zeros(dim), decay=False)
        self.eps = eps
        self._xhat: np.ndarray | None = None
        self._rstd: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        mu = x.mean(axis=-1, keepdims=True)
        xc = x - mu
        var = np.mean(xc * xc, axis=-1, keepdims=True)
        rstd = 1.0 / np.sqrt(var + self.eps)
        xhat = xc * rstd
        self._xhat, self._rstd = xhat, rstd
        return xhat * self.gamma.value + self.beta.value

    def backward(self, dout: np.ndarray) -> np.ndarray:
        xhat, rstd = self._xhat, self._rstd
        assert xhat is not None and rstd is not None, "backward called before forward"
        self.gamma.grad[...] = np.sum(dout * xhat, axis=0)
        self.beta.grad[...] = dout.sum(axis=0)
        g = dout * self.gamma.value
        n = xhat.shape[-1]
        sum_g = g.sum(axis=-1, keepdims=True)
        sum_gx = np.sum(g * xhat, axis=-1, keepdims=True)
        return (rstd / n) * (n * g - sum_g - xhat * sum_gx)
