"""The model configuration: a small, validated, JSON-serialisable dataclass.

A run is fully described by a task config, a model config, an optimizer config and a seed, so
checkpoints and the workbench can store and rebuild everything from plain JSON.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import ConfigError
from core.validation import DictMixin, Option, option_defaults, validate_options

MODEL_KINDS = ("encoder", "decoder")
NORMS = ("pre", "post")
ACTIVATIONS = ("relu", "gelu")
POSITIONALS = ("sinusoidal", "learned")

#: The model's options (see ``core.validation.Option``), in the order they are checked.
MODEL_OPTIONS: tuple[Option, ...] = (
    Option("kind", "choice", "encoder", "kind", "encoder: classifies the answer; decoder: generates it digit by digit",
           choices=MODEL_KINDS),
    Option("vocab_size", "int", 21, "vocab size", "tokens in the vocabulary (from the task)", 2, 100_000,
           derived=True),
    Option("num_classes", "int", 10, "classes", "possible answers (from the task)", 2, 100_000, derived=True),
    Option("d_model", "int", 64, "d_model", "width of the residual stream", 2, 4096),
    Option("n_layers", "int", 2, "layers", "transformer blocks", 1, 48),
    Option("n_heads", "int", 4, "heads", "attention heads per block; must divide d_model", 1, 256),
    Option("d_ff", "int", 256, "d_ff", "hidden width of the feed-forward block", 1, 65_536),
    Option("dropout", "float", 0.0, "dropout", "dropout rate while training", 0.0, 0.9),
    Option("norm", "choice", "pre", "norm", "LayerNorm before (pre-LN) or after (post-LN) each sublayer",
           choices=NORMS, choice_labels=("pre-LN", "post-LN")),
    Option("activation", "choice", "relu", "activation", "non-linearity of the feed-forward block",
           choices=ACTIVATIONS),
    Option("positional", "choice", "sinusoidal", "positional", "fixed sinusoidal or learned position embeddings",
           choices=POSITIONALS),
    Option("max_len", "int", 64, "max length", "longest sequence the model accepts (from the task)", 2, 4096,
           derived=True),
)

_DEFAULT = option_defaults(MODEL_OPTIONS)


@dataclass(frozen=True)
class ModelConfig(DictMixin):
    """Architecture of an encoder (classifier) or decoder (generator) transformer.

    ``vocab_size``, ``num_classes`` and ``max_len`` normally come from the task (see ``RunConfig.create``).
    """

    kind: str = _DEFAULT["kind"]
    vocab_size: int = _DEFAULT["vocab_size"]
    num_classes: int = _DEFAULT["num_classes"]
    d_model: int = _DEFAULT["d_model"]
    n_layers: int = _DEFAULT["n_layers"]
    n_heads: int = _DEFAULT["n_heads"]
    d_ff: int = _DEFAULT["d_ff"]
    dropout: float = _DEFAULT["dropout"]
    norm: str = _DEFAULT["norm"]
    activation: str = _DEFAULT["activation"]
    positional: str = _DEFAULT["positional"]
    max_len: int = _DEFAULT["max_len"]

    def __post_init__(self) -> None:
        validate_options(self, MODEL_OPTIONS)
        if self.d_model % self.n_heads:
            raise ConfigError(f"n_heads ({self.n_heads}) must divide d_model ({self.d_model})")
        if self.positional == "sinusoidal" and self.d_model % 2:
            raise ConfigError(f"sinusoidal positions need an even d_model, got {self.d_model}")
