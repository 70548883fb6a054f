"""Layer normalisation over the feature axis.

Forward:  μ = mean(x),  σ² = var(x),  x̂ = (x − μ)/√(σ² + ε),  y = γ ⊙ x̂ + β
Backward (per row, N features, g = γ ⊙ dy):
    dx = (1/N) · (1/√(σ²+ε)) · (N·g − Σg − x̂ · Σ(g ⊙ x̂))
    dγ = Σ_rows dy ⊙ x̂,  dβ = Σ_rows dy
Row and column sums go through BLAS (see ``reductions``). ``layer_norm`` is the whole forward as a function
of the input and the parameter values (the logit lens applies it); the layer runs the same ``normalize``
and affine step, keeping x̂ and 1/σ for its backward (a test checks the two give identical outputs).
"""

from __future__ import annotations

import numpy as np

from core.nn.layers.reductions import col_sum, row_sum
from core.nn.params import ParameterStore


def normalize(x: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """x̂ = (x − μ)/√(σ² + ε) over the last axis, and 1/√(σ² + ε) (..., 1); ``x`` is only read."""
    n = x.shape[-1]
    xc = x - row_sum(x) * (1.0 / n)
    var = row_sum(xc * xc)
    var *= 1.0 / n
    var += eps
    rstd = 1.0 / np.sqrt(var)
    xc *= rstd  # x̂, in place
    return xc, rstd


def layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """y = γ ⊙ x̂ + β (a new array; ``x`` is only read)."""
    y, _ = normalize(x, eps)
    y *= gamma
    y += beta
    return y


class LayerNorm:
    def __init__(self, store: ParameterStore, name: str, dim: int, eps: float = 1e-5) -> None:
        self.gamma = store.create(f"{name}.gamma", np.ones(dim), decay=False)
        self.beta = store.create(f"{name}.beta", np.zeros(dim), decay=False)
        self.eps = eps
        self._xhat: np.ndarray | None = None
        self._rstd: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        xhat, rstd = normalize(x, self.eps)
        self._xhat, self._rstd = xhat, rstd  # kept for backward, so y goes to a buffer of its own
        y = xhat * self.gamma.value
        y += self.beta.value
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        xhat, rstd = self._xhat, self._rstd
        assert xhat is not None and rstd is not None, "backward called before forward"
        col_sum(dout * xhat, out=self.gamma.grad)
        col_sum(dout, out=self.beta.grad)
        g = dout * self.gamma.value
        n = xhat.shape[-1]
        sum_g = row_sum(g)
        sum_gx = row_sum(g * xhat)
        # dx = rstd/n · (n·g − Σg − x̂·Σ(g⊙x̂)), built in g's buffer
        g *= n
        g -= sum_g
        g -= xhat * sum_gx
        g *= rstd * (1.0 / n)
        return g
