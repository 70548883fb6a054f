"""Shared helpers for gradient-check tests: a scalar loss L = Σ y ⊙ R (R fixed random), whose
gradient with respect to the layer output is exactly R."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from core.nn.gradcheck import numerical_gradient, relative_error
from core.nn.params import ParameterStore

TOL = 1e-6


def check_layer(
    forward: Callable[[np.ndarray], np.ndarray],
    backward: Callable[[np.ndarray], np.ndarray | None],
    x: np.ndarray,
    store: ParameterStore | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Return the relative error of dL/dx and of every parameter gradient of ``store``."""
    rng = np.random.default_rng(seed)
    y = forward(x)
    r = rng.normal(size=y.shape)

    def loss() -> float:
        return float(np.sum(forward(x) * r))

    forward(x)
    dx = backward(r.copy())
    errors: dict[str, float] = {}
    if dx is not None:
        errors["input"] = relative_error(dx, numerical_gradient(loss, x))
    if store is not None:
        for p in store:
            errors[p.name] = relative_error(p.grad.copy(), numerical_gradient(loss, p.value))
    return errors


def assert_all_below(errors: dict[str, float], tol: float = TOL) -> None:
    bad = {k: v for k, v in errors.items() if not v <= tol}
    assert not bad, f"gradient check failed (rel. error > {tol}): {bad}"
