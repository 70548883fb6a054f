"""Cross-entropy: value against a direct computation, gradient against finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from core.nn.gradcheck import numerical_gradient, relative_error
from core.nn.layers.softmax import log_softmax, softmax
from core.nn.loss import cross_entropy


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_value_and_gradient(smoothing: float, weighted: bool) -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 5)) * 3
    targets = rng.integers(0, 5, 6)
    weights = np.array([1, 0, 1, 1, 0, 1.0]) if weighted else None
    loss, grad = cross_entropy(logits, targets, weights, smoothing)

    q = np.full((6, 5), smoothing / 5)
    q[np.arange(6), targets] += 1 - smoothing
    per_row = -(q * log_softmax(logits)).sum(axis=1)
    w = np.ones(6) if weights is None else weights
    assert loss == pytest.approx(float((per_row * w).sum() / w.sum()), rel=1e-12)
    # the fused gradient is the plain softmax's p − q, weighted
    assert np.allclose(grad, (softmax(logits) - q) * (w / w.sum())[:, None], rtol=1e-12, atol=1e-15)

    numeric = numerical_gradient(lambda: cross_entropy(logits, targets, weights, smoothing)[0], logits)
    assert relative_error(grad, numeric) < 1e-6
    if weighted:
        assert np.all(grad[[1, 4]] == 0)  # masked rows get no gradient


def test_cross_entropy_is_stable_for_huge_logits() -> None:
    logits = np.array([[1000.0, 0.0, -1000.0]])
    loss, grad = cross_entropy(logits, np.array([0]))
    assert loss == pytest.approx(0.0) and np.all(np.isfinite(grad))


def test_cross_entropy_rejects_all_zero_weights_and_bad_shapes() -> None:
    with pytest.raises(ValueError, match="positive weight"):
        cross_entropy(np.zeros((2, 3)), np.array([0, 1]), np.zeros(2))
    with pytest.raises(ValueError, match="shape"):
        cross_entropy(np.zeros((2, 3)), np.array([0, 1, 2]))
