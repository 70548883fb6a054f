"""The optimizer configuration: optimizer, learning-rate schedule and the other knobs of a training run."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import ConfigError
from core.validation import DictMixin, check_choice, check_float, check_int

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "step")


@dataclass(frozen=True)
class OptimizerConfig(DictMixin):
    """Optimizer, learning-rate schedule and the other knobs of a training run."""

    name: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0
    clip_norm: float = 1.0
    schedule: str = "constant"
    warmup_steps: int = 0
    total_steps: int = 0
    min_lr: float = 0.0
    step_size: int = 1000
    gamma: float = 0.5
    label_smoothing: float = 0.0
    batch_size: int = 32

    def __post_init__(self) -> None:
        check_choice("optimizer", self.name, OPTIMIZERS)
        check_float("lr", self.lr, 0.0, 10.0, lo_open=True)
        check_float("momentum", self.momentum, 0.0, 0.999)
        check_float("beta1", self.beta1, 0.0, 0.9999)
        check_float("beta2", self.beta2, 0.0, 0.99999)
        check_float("eps", self.eps, 0.0, 1.0, lo_open=True)
        check_float("weight_decay", self.weight_decay, 0.0, 1.0)
        check_float("clip_norm", self.clip_norm, 0.0, 1e6)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_int("warmup_steps", self.warmup_steps, 0, 10**9)
        check_int("total_steps", self.total_steps, 0, 10**9)
        check_float("min_lr", self.min_lr, 0.0, 10.0)
        check_int("step_size", self.step_size, 1, 10**9)
        check_float("gamma", self.gamma, 0.0, 1.0, lo_open=True)
        check_float("label_smoothing", self.label_smoothing, 0.0, 0.5)
        check_int("batch_size", self.batch_size, 1, 65_536)
        if self.schedule == "cosine" and self.total_steps <= self.warmup_steps:
            raise ConfigError("the cosine schedule needs total_steps greater than warmup_steps")
