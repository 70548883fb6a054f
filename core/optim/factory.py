"""Build an optimizer and a schedule from an ``OptimizerConfig``."""

from __future__ import annotations

from core.nn.params import ParameterStore
from core.optim.adam import Adam, AdamW
from core.optim.base import Optimizer
from core.optim.config import OptimizerConfig
from core.optim.schedules import ConstantSchedule, Schedule, StepSchedule, WarmupCosineSchedule
from core.optim.sgd import SGD


def build_optimizer(config: OptimizerConfig, params: ParameterStore) -> Optimizer:
    c = config
    if c.name == "sgd":
        return SGD(params, c.lr, c.momentum, c.weight_decay)
    cls = AdamW if c.name == "adamw" else Adam
    return cls(params, c.lr, c.beta1, c.beta2, c.eps, c.weight_decay)


def build_schedule(config: OptimizerConfig) -> Schedule:
    c = config
    if c.schedule == "cosine":
        return WarmupCosineSchedule(c.lr, c.warmup_steps, c.total_steps, c.min_lr)
    if c.schedule == "step":
        return StepSchedule(c.lr, c.step_size, c.gamma, c.warmup_steps)
    return ConstantSchedule(c.lr)
