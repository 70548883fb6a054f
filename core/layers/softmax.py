"""Softmax along the last axis, and its backward.

Forward (stable): p = exp(x − max x) / Σ exp(x − max x)
Backward: with upstream g = dL/dp, the Jacobian-vector product is
    dL/dx = p ⊙ (g − Σ(g ⊙ p))
Masked entries (scores of −1e9) get p = 0 exactly and therefore zero gradient.
"""

from __future__ import annotations

import numpy as np


def softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


def softmax_backward(p: np.ndarray, dp: np.ndarray) -> np.ndarray:
    return p * (dp - np.sum(dp * p, axis=-1, keepdims=True))
