"""Cross-entropy from logits, with per-row weights (masking) and optional label smoothing.

With p = softmax(z) and target distribution q = (1−ε)·onehot(y) + ε/C:
    L = Σᵢ wᵢ · (−Σ_c q_ic log p_ic) / Σᵢ wᵢ
    dL/dz_i = wᵢ · (p_i − q_i) / Σᵢ wᵢ
The softmax and the log are fused (log-sum-exp), so the gradient is applied exactly once — the original
llmlearn applied the softmax Jacobian a second time on top of (p − q). The fused form is the training
step's fast path; a test checks its loss and gradient against ``core.nn.layers.softmax.log_softmax``.
"""

from __future__ import annotations

import numpy as np


def cross_entropy(
    logits: np.ndarray,
    targets: np.ndarray,
    weights: np.ndarray | None = None,
    label_smoothing: float = 0.0,
) -> tuple[float, np.ndarray]:
    """logits (N, C), integer targets (N,), optional weights (N,) ≥ 0 → (mean loss, dL/dlogits).

    Rows with weight 0 (padding, prompt tokens) contribute neither loss nor gradient.
    """
    n, c = logits.shape
    if targets.shape != (n,):
        raise ValueError(f"targets must have shape ({n},), got {targets.shape}")
    rows = np.arange(n)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    sum_exp = exp.sum(axis=-1, keepdims=True)
    log_sum = np.log(sum_exp)
    nll = log_sum[:, 0] - shifted[rows, targets]
    if label_smoothing:
        # −Σ_c q_c log p_c = (1−ε)·nll + ε·mean_c(−log p_c)
        mean_neg_logp = log_sum[:, 0] - shifted.mean(axis=-1)
        per_row = (1.0 - label_smoothing) * nll + label_smoothing * mean_neg_logp
    else:
        per_row = nll
    w = np.ones(n, dtype=logits.dtype) if weights is None else weights.astype(logits.dtype, copy=False)
    total = float(w.sum())
    if total <= 0:
        raise ValueError("cross_entropy needs at least one row with positive weight")
    loss = float(np.dot(per_row, w) / total)
    grad = exp / sum_exp  # p
    grad[rows, targets] -= 1.0 - label_smoothing
    if label_smoothing:
        grad -= label_smoothing / c
    grad *= (w / total)[:, None]
    return loss, grad
