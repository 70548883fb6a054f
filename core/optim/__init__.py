"""Optimizers, gradient clipping and learning-rate schedules, all over the flat parameter buffer."""

from core.optim.adam import Adam, AdamW
from core.optim.base import Optimizer
from core.optim.clipping import clip_grad_norm
from core.optim.factory import build_optimizer, build_schedule
from core.optim.schedules import ConstantSchedule, Schedule, StepSchedule, WarmupCosineSchedule
from core.optim.sgd import SGD

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "ConstantSchedule",
    "Optimizer",
    "Schedule",
    "StepSchedule",
    "WarmupCosineSchedule",
    "build_optimizer",
    "build_schedule",
    "clip_grad_norm",
]
