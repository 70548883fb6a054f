"""Softmax along the last axis, and its backward — the one softmax of the code base.

Forward (stable): p = exp(x − max x) / Σ exp(x − max x)
Backward: with upstream g = dL/dp, the Jacobian-vector product is
    dL/dx = p ⊙ (g − Σ(g ⊙ p))
Masked entries (scores of −1e9) get p = 0 exactly and therefore zero gradient.

``softmax`` is the readable version, used wherever a distribution is read (prediction, generation, the
logit lens); ``softmax_inplace`` is the same formula computed in its input's buffer with BLAS row sums,
for attention in the training step (a test checks the two agree).
"""

from __future__ import annotations

import numpy as np

from core.nn.layers.reductions import row_sum


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, as a new array (``x`` is only read)."""
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(x: np.ndarray) -> np.ndarray:
    """log softmax over the last axis: z − log Σ exp z with z = x − max x, which cannot overflow."""
    z = x - x.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def softmax_inplace(x: np.ndarray) -> np.ndarray:
    """``softmax(x)`` computed in ``x``'s buffer (the input is overwritten) — the fast path for attention."""
    x -= x.max(axis=-1, keepdims=True)
    np.exp(x, out=x)
    x /= row_sum(x)
    return x


def softmax_backward(p: np.ndarray, dp: np.ndarray) -> np.ndarray:
    """dL/dx from p and dL/dp (``dp`` is overwritten)."""
    dp -= row_sum(dp * p)
    dp *= p
    return dp
