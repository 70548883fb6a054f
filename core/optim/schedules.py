"""Learning-rate schedules: a function of the step number (0-based) returning the learning rate.

The trainer multiplies each schedule by a user scale, so a learning-rate edit mid-run keeps the shape.
"""

from __future__ import annotations

import math


class Schedule:
    base_lr: float

    def __call__(self, step: int) -> float:
        raise NotImplementedError


class ConstantSchedule(Schedule):
    def __init__(self, lr: float) -> None:
        self.base_lr = lr

    def __call__(self, step: int) -> float:
        return self.base_lr


class WarmupCosineSchedule(Schedule):
    """Linear warm-up from 0 to ``lr`` over ``warmup_steps``, then cosine decay to ``min_lr`` at
    ``total_steps`` (and ``min_lr`` after)."""

    def __init__(self, lr: float, warmup_steps: int, total_steps: int, min_lr: float = 0.0) -> None:
        self.base_lr, self.warmup, self.total, self.min_lr = lr, warmup_steps, total_steps, min_lr

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return self.base_lr * (step + 1) / self.warmup
        if step >= self.total:
            return self.min_lr
        progress = (step - self.warmup) / max(1, self.total - self.warmup)
        return self.min_lr + 0.5 * (self.base_lr - self.min_lr) * (1.0 + math.cos(math.pi * progress))


class StepSchedule(Schedule):
    """Multiply the rate by ``gamma`` every ``step_size`` steps (after an optional linear warm-up)."""

    def __init__(self, lr: float, step_size: int, gamma: float, warmup_steps: int = 0) -> None:
        self.base_lr, self.step_size, self.gamma, self.warmup = lr, step_size, gamma, warmup_steps

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return self.base_lr * (step + 1) / self.warmup
        return self.base_lr * self.gamma ** (step // self.step_size)
