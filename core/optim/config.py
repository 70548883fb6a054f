"""The optimizer configuration: optimizer, learning-rate schedule and the other knobs of a training run."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import ConfigError
from core.validation import DictMixin, Option, option_defaults, validate_options

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "step")

#: The optimizer's options (see ``core.validation.Option``), in the order they are checked.
OPTIMIZER_OPTIONS: tuple[Option, ...] = (
    Option("optimizer", "choice", "adam", "optimizer", "sgd (with momentum), adam, or adamw (decoupled weight decay)",
           choices=OPTIMIZERS, field="name"),
    Option("lr", "float", 1e-3, "lr", "learning rate: the schedule's base rate", 0.0, 10.0, lo_open=True,
           editable="schedule"),
    Option("momentum", "float", 0.9, "momentum", "momentum of sgd", 0.0, 0.999, editable="optimizer"),
    Option("beta1", "float", 0.9, "beta1", "Adam's first-moment decay", 0.0, 0.9999, editable="optimizer"),
    Option("beta2", "float", 0.999, "beta2", "Adam's second-moment decay", 0.0, 0.99999, editable="optimizer"),
    Option("eps", "float", 1e-8, "eps", "Adam's ε in m / (√v + ε): larger damps the steps once gradients are tiny",
           0.0, 1.0, lo_open=True),
    Option("weight_decay", "float", 0.0, "weight decay", "L2 penalty (sgd, adam) or decoupled decay (adamw)",
           0.0, 1.0, editable="optimizer"),
    Option("clip_norm", "float", 1.0, "clip norm", "gradient clipping by global norm; 0 = off", 0.0, 1e6,
           aliases=("--clip",), editable="trainer"),
    Option("schedule", "choice", "constant", "schedule",
           "constant; cosine: warm-up then cosine decay to min lr over the whole run; step: ×gamma every step size "
           "steps", choices=SCHEDULES),
    Option("warmup_steps", "int", 0, "warmup steps", "steps of linear warm-up (cosine schedule)", 0, 10**9,
           aliases=("--warmup",)),
    Option("total_steps", "int", 0, "total steps", "length of the schedule: steps per epoch × epochs", 0, 10**9,
           derived=True),
    Option("min_lr", "float", 0.0, "min lr", "final learning rate of the cosine schedule", 0.0, 10.0),
    Option("step_size", "int", 1000, "step size", "steps between decays of the step schedule", 1, 10**9),
    Option("gamma", "float", 0.5, "gamma", "factor of each decay of the step schedule", 0.0, 1.0, lo_open=True),
    Option("label_smoothing", "float", 0.0, "label smoothing", "share of the target spread over all classes",
           0.0, 0.5),
    Option("batch_size", "int", 32, "batch size", "examples per training step", 1, 65_536),
)

_DEFAULT = option_defaults(OPTIMIZER_OPTIONS)


@dataclass(frozen=True)
class OptimizerConfig(DictMixin):
    """Optimizer, learning-rate schedule and the other knobs of a training run."""

    name: str = _DEFAULT["name"]
    lr: float = _DEFAULT["lr"]
    momentum: float = _DEFAULT["momentum"]
    beta1: float = _DEFAULT["beta1"]
    beta2: float = _DEFAULT["beta2"]
    eps: float = _DEFAULT["eps"]
    weight_decay: float = _DEFAULT["weight_decay"]
    clip_norm: float = _DEFAULT["clip_norm"]
    schedule: str = _DEFAULT["schedule"]
    warmup_steps: int = _DEFAULT["warmup_steps"]
    total_steps: int = _DEFAULT["total_steps"]
    min_lr: float = _DEFAULT["min_lr"]
    step_size: int = _DEFAULT["step_size"]
    gamma: float = _DEFAULT["gamma"]
    label_smoothing: float = _DEFAULT["label_smoothing"]
    batch_size: int = _DEFAULT["batch_size"]

    def __post_init__(self) -> None:
        validate_options(self, OPTIMIZER_OPTIONS)
        if self.schedule == "cosine" and self.total_steps <= self.warmup_steps:
            raise ConfigError(f"the cosine schedule needs total_steps greater than warmup_steps "
                              f"({self.total_steps:,} ≤ {self.warmup_steps:,})")
