"""The model configuration: a small, validated, JSON-serialisable dataclass.

A run is fully described by a task config, a model config, an optimizer config and a seed, so
checkpoints and the workbench can store and rebuild everything from plain JSON.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import ConfigError
from core.validation import DictMixin, check_choice, check_float, check_int

MODEL_KINDS = ("encoder", "decoder")
NORMS = ("pre", "post")
ACTIVATIONS = ("relu", "gelu")
POSITIONALS = ("sinusoidal", "learned")


@dataclass(frozen=True)
class ModelConfig(DictMixin):
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
        check_choice("kind", self.kind, MODEL_KINDS)
        check_int("vocab_size", self.vocab_size, 2, 100_000)
        check_int("num_classes", self.num_classes, 2, 100_000)
        check_int("d_model", self.d_model, 2, 4096)
        check_int("n_layers", self.n_layers, 1, 48)
        check_int("n_heads", self.n_heads, 1, 256)
        check_int("d_ff", self.d_ff, 1, 65_536)
        check_float("dropout", self.dropout, 0.0, 0.9)
        check_choice("norm", self.norm, NORMS)
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("positional", self.positional, POSITIONALS)
        check_int("max_len", self.max_len, 2, 4096)
        if self.d_model % self.n_heads:
            raise ConfigError(f"n_heads ({self.n_heads}) must divide d_model ({self.d_model})")
        if self.positional == "sinusoidal" and self.d_model % 2:
            raise ConfigError(f"sinusoidal positions need an even d_model, got {self.d_model}")
