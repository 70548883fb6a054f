"""Model and optimizer configurations: small, validated, JSON-serialisable dataclasses.

A run is fully described by a task config, a model config, an optimizer config and a seed, so
checkpoints and the workbench can store and rebuild everything from plain JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Self

from core.errors import ConfigError

MODEL_KINDS = ("encoder", "decoder")
NORMS = ("pre", "post")
ACTIVATIONS = ("relu", "gelu")
POSITIONALS = ("sinusoidal", "learned")
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "step")


def _check_int(name: str, value: Any, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ConfigError(f"{name} must be between {lo} and {hi}, got {value}")


def _check_float(name: str, value: Any, lo: float, hi: float, lo_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if value != value or not (lo < value if lo_open else lo <= value) or value > hi:
        bound = f"({lo}" if lo_open else f"[{lo}"
        raise ConfigError(f"{name} must be in {bound}, {hi}], got {value}")


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


class _DictMixin:
    """to_dict/from_dict with a clear error for unknown, missing or mistyped keys."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        if not isinstance(data, dict):
            raise ConfigError(f"{cls.__name__} must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{cls.__name__} has unknown keys: {', '.join(unknown)}")
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise ConfigError(f"bad {cls.__name__}: {exc}") from None


@dataclass(frozen=True)
class ModelConfig(_DictMixin):
    """Architecture of an encoder (classifier) or decoder (generator) transformer.

    ``vocab_size`` and ``num_classes`` normally come from the task (see ``for_task``).
    """

    kind: str = "encoder"
    vocab_size: int = 21
    num_classes: int = 10
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 256
    dropout: float = 0.0
    norm: str = "pre"
    activation: str = "relu"
    positional: str = "sinusoidal"
    max_len: int = 64

    def __post_init__(self) -> None:
        _check_choice("kind", self.kind, MODEL_KINDS)
        _check_int("vocab_size", self.vocab_size, 2, 100_000)
        _check_int("num_classes", self.num_classes, 2, 100_000)
        _check_int("d_model", self.d_model, 2, 4096)
        _check_int("n_layers", self.n_layers, 1, 48)
        _check_int("n_heads", self.n_heads, 1, 256)
        _check_int("d_ff", self.d_ff, 1, 65_536)
        _check_float("dropout", self.dropout, 0.0, 0.9)
        _check_choice("norm", self.norm, NORMS)
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_choice("positional", self.positional, POSITIONALS)
        _check_int("max_len", self.max_len, 2, 4096)
        if self.d_model % self.n_heads:
            raise ConfigError(f"n_heads ({self.n_heads}) must divide d_model ({self.d_model})")
        if self.positional == "sinusoidal" and self.d_model % 2:
            raise ConfigError(f"sinusoidal positions need an even d_model, got {self.d_model}")


@dataclass(frozen=True)
class OptimizerConfig(_DictMixin):
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
        _check_choice("optimizer", self.name, OPTIMIZERS)
        _check_float("lr", self.lr, 0.0, 10.0, lo_open=True)
        _check_float("momentum", self.momentum, 0.0, 0.999)
        _check_float("beta1", self.beta1, 0.0, 0.9999)
        _check_float("beta2", self.beta2, 0.0, 0.99999)
        _check_float("eps", self.eps, 0.0, 1.0, lo_open=True)
        _check_float("weight_decay", self.weight_decay, 0.0, 1.0)
        _check_float("clip_norm", self.clip_norm, 0.0, 1e6)
        _check_choice("schedule", self.schedule, SCHEDULES)
        _check_int("warmup_steps", self.warmup_steps, 0, 10**9)
        _check_int("total_steps", self.total_steps, 0, 10**9)
        _check_float("min_lr", self.min_lr, 0.0, 10.0)
        _check_int("step_size", self.step_size, 1, 10**9)
        _check_float("gamma", self.gamma, 0.0, 1.0, lo_open=True)
        _check_float("label_smoothing", self.label_smoothing, 0.0, 0.5)
        _check_int("batch_size", self.batch_size, 1, 65_536)
        if self.schedule == "cosine" and self.total_steps <= self.warmup_steps:
            raise ConfigError("the cosine schedule needs total_steps greater than warmup_steps")
