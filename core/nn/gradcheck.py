"""Finite-difference gradient checking: the ground truth every backward pass is tested against.

Central differences, ∂f/∂xᵢ ≈ (f(x + h·eᵢ) − f(x − h·eᵢ)) / 2h, have error O(h²); in float64 with
h = 1e-6 that is far below the 1e-6 tolerance the tests use.

The error of a whole tensor is reported as max|a − n| / max(max|a|, max|n|): the largest element-wise
disagreement measured against the tensor's own gradient scale. (A per-element ratio would blow up on
elements whose true gradient is ~0, where finite differences only measure round-off.)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numerical_gradient(f: Callable[[], float], x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """∂f/∂x by central differences, perturbing ``x`` in place (restored afterwards)."""
    if x.dtype != np.float64:
        raise TypeError("gradient checks need float64 arrays")
    grad = np.zeros_like(x)
    grad.reshape(-1)[...] = numerical_gradient_at(f, x.reshape(-1), np.arange(x.size), h)
    return grad


def numerical_gradient_at(f: Callable[[], float], flat: np.ndarray, indices: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences of ``f`` for the elements ``indices`` of the 1-D array ``flat`` (perturbed in
    place, restored afterwards): a sample of a large tensor costs two evaluations per element."""
    out = np.empty(len(indices))
    for j, i in enumerate(np.asarray(indices).tolist()):
        old = flat[i]
        flat[i] = old + h
        f_plus = f()
        flat[i] = old - h
        f_minus = f()
        flat[i] = old
        out[j] = (f_plus - f_minus) / (2.0 * h)
    return out


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    scale = max(float(np.max(np.abs(analytic), initial=0.0)), float(np.max(np.abs(numeric), initial=0.0)))
    if scale < 1e-12:
        return 0.0
    return float(np.max(np.abs(analytic - numeric)) / scale)
