"""Softmax along the last axis, and its backward.

Forward (stable): p = exp(x − max x) / Σ exp(x − max x)
Backward: with upstream g = dL/dp, the Jacobian-vector product is
    dL/dx = p ⊙ (g − Σ(g ⊙ p))
Masked entries (scores of −1e9) get p = 0 exactly and therefore zero gradient.
"""

from __future__ import annotations

import numpy as np

from core.nn.layers.reductions import row_sum


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, computed in ``x``'s buffer (the input is overwritten)."""
    x -= x.max(axis=-1, keepdims=True)
    np.exp(x, out=x)
    x /= row_sum(x)
    return x


def softmax_backward(p: np.ndarray, dp: np.ndarray) -> np.ndarray:
    """dL/dx from p and dL/dp (``dp`` is overwritten)."""
    dp -= row_sum(dp * p)
    dp *= p
    return dp
