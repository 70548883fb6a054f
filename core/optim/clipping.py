"""Gradient clipping by global norm: if ‖g‖₂ > c, scale g by c/‖g‖₂ (direction kept, size capped)."""

from __future__ import annotations

import numpy as np


def clip_grad_norm(grad: np.ndarray, max_norm: float) -> float:
    """Clip the flat gradient in place; returns the norm *before* clipping (0 disables clipping)."""
    norm = float(np.sqrt(np.dot(grad, grad)))
    if max_norm > 0 and norm > max_norm:
        grad *= max_norm / (norm + 1e-12)
    return norm
