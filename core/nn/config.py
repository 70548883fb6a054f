"""The model configuration: a small, validated, JSON-serialisable dataclass.

A run is fully described by a task config, a model config, an optimizer config and a seed, so
checkpoints and the workbench can store and rebuild everything from plain JSON.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.budget import check_budget
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
        # The bounds above multiply: refuse a model whose weights and optimizer state alone exceed the
        # budget, whatever the batch (``RunConfig`` adds activations and data for its batch and task).
        check_budget(state_bytes(self), "this model", SMALLER)

    @property
    def parameter_count(self) -> int:
        """Exactly ``build_model(self).params.data.size``, without building it."""
        return parameter_count(self)


SMALLER = "make d_model, n_layers or d_ff smaller"
#: float32
_F = 4
#: copies of the flat parameter vector a training step holds: weights, gradients, Adam's m and v, Adam's
#: scratch vector, and one temporary of the update/clipping (measured: ~24 bytes per parameter after build)
STATE_COPIES = 6
#: the evaluation batch (``core.train.evaluation.evaluate``): activations are at least this wide
EVAL_BATCH = 256


def parameter_count(c: ModelConfig) -> int:
    """Parameters of the model ``c`` describes (see ``core.nn.models``)::

        embedding V·d  (+ learned positions max_len·d)
        per block: 2 LayerNorms 4d, attention qkv d·3d + 3d and out d·d + d, feed-forward d·f + f + f·d + d
        final LayerNorm 2d (pre-LN), head d·out + out (out = classes for the encoder, V for the decoder)
    """
    d, f = c.d_model, c.d_ff
    block = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * f + f + f * d + d)
    out = c.num_classes if c.kind == "encoder" else c.vocab_size
    return (c.vocab_size * d + (c.max_len * d if c.positional == "learned" else 0) + c.n_layers * block
            + (2 * d if c.norm == "pre" else 0) + d * out + out)


def state_bytes(c: ModelConfig) -> int:
    """Bytes of the parameter vector's ``STATE_COPIES`` copies plus the position table."""
    return _F * (STATE_COPIES * parameter_count(c) + c.max_len * c.d_model)


def activation_bytes(c: ModelConfig, batch_size: int, seq_len: int) -> int:
    """Bytes a forward pass caches for the backward one, per layer and token (B·T of them, B at least
    ``EVAL_BATCH``): ~8 vectors of width d (LayerNorm inputs and outputs, q, k, v, attention output,
    residuals) and ~3 of width d_ff (hidden, activation, its mask), plus the attention scores and
    probabilities and one temporary, 3·B·H·T² per layer; then the head's logits B·T·out."""
    b, t = max(batch_size, EVAL_BATCH), seq_len
    per_layer = b * t * (8 * c.d_model + 3 * c.d_ff) + 3 * b * c.n_heads * t * t
    return _F * (c.n_layers * per_layer + 2 * b * t * (c.d_model + max(c.num_classes, c.vocab_size)))


def estimate_training_bytes(c: ModelConfig, batch_size: int, seq_len: int) -> int:
    """What training (or evaluating) ``c`` at ``batch_size`` on sequences of ``seq_len`` tokens needs,
    besides the data: ``state_bytes + activation_bytes`` (1.0–1.4× the peak measured with tracemalloc)."""
    return state_bytes(c) + activation_bytes(c, batch_size, seq_len)
