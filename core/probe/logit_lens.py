"""The logit lens: the answer the model would give if its computation stopped after each layer.

A transformer adds each block's output to a residual stream, hₗ = hₗ₋₁ + fₗ(hₗ₋₁) (pre-LN), and the
head reads the last one: logits = LN_f(h_L) W + b. Reading an *earlier* hₗ through the same final
LayerNorm and head (nostalgebraist, 2020),

    pₗ = softmax(LN_f(hₗ) W + b),   l = 0 (embeddings + positions), 1, …, L (after block l),

shows when the answer becomes decodable: often a middle layer already ranks it first and later layers
only sharpen it. p_L is the model's real output distribution. With post-LN blocks there is no final
LayerNorm (each block ends in one already), so hₗ goes straight into the head; the embedding layer
h₀ is then unnormalised and its reading is only indicative.

Where it reads: the encoder at position 0 (where its head reads, a class 0..max_value per layer);
the decoder at the "=" position (where the first answer token is predicted, a token per layer).

It runs the model's own layers in evaluation mode, restores the training flag, and writes no weight.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.data.expression import Expression, parse_expression
from core.data.operations import Answer
from core.data.task import TaskConfig
from core.data.vocab import VOCAB
from core.errors import ExpressionError
from core.nn.layers.attention import attention_bias
from core.nn.layers.layernorm import layer_norm
from core.nn.layers.softmax import softmax
from core.nn.models.factory import Model

Reading = list[tuple[int | str, float]]  # (class or token, probability), most likely first


@dataclass
class LogitLensResult:
    """Per layer (``layer_names[l]``, l = 0 is the embedding output), the head's reading there.

    ``layers[l]`` lists the ``top_k`` most likely answers — encoder: classes (int); decoder: tokens
    (str) — with probabilities; ``probs`` (L+1, C) holds the full distributions, for heatmaps;
    ``labels[c]`` names column c. ``position`` is the input position that was read.
    """

    text: str
    expression: Expression | None = None
    truth: Answer | None = None
    kind: str = ""
    tokens: list[str] = field(default_factory=list)
    position: int = 0
    layer_names: list[str] = field(default_factory=list)
    layers: list[Reading] = field(default_factory=list)
    probs: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    labels: list[int | str] = field(default_factory=list)
    error: str | None = None


def residual_stream(model: Model, tokens: np.ndarray) -> list[np.ndarray]:
    """The residual stream of one unpadded batch (B, T): [h₀, h₁, …, h_L], each (B, T, d).

    Mirrors ``TransformerBackbone.forward_trunk`` (embedding, positions, dropout, blocks) in evaluation
    mode, keeping each block's output; the caller applies the final LayerNorm. A test checks that
    reading h_L gives exactly the model's own logits, so the two cannot drift apart unnoticed.
    """
    batch, time = tokens.shape
    with model.eval_mode():
        x = model.embed.forward(tokens).astype(model.dtype, copy=False)
        x = model.drop.forward(model.pos.forward(x, batch, time))
        bias = attention_bias(None, time, model.causal, model.dtype)
        states = [x.reshape(batch, time, -1).copy()]
        for block in model.blocks:
            x = block.forward(x, batch, time, bias, False)
            states.append(x.reshape(batch, time, -1).copy())
        return states


def read_out(model: Model, hidden: np.ndarray) -> np.ndarray:
    """Probabilities (N, C) the head assigns to hidden states (N, d): softmax(LN_f(h) W + b), in float64.

    The final LayerNorm (``core.nn.layers.layernorm.layer_norm``, the function its layer runs) and the head
    are applied to the parameter values, not through the layers' ``forward``, so no layer cache changes.
    """
    h = hidden.astype(np.float64)
    ln = model.ln_f
    if ln is not None:
        h = layer_norm(h, ln.gamma.value.astype(np.float64), ln.beta.value.astype(np.float64), ln.eps)
    w, b = model.head.w.value, model.head.b
    logits = h @ w.astype(np.float64) + (b.value.astype(np.float64) if b is not None else 0.0)
    return softmax(logits)


def logit_lens(model: Model, task: TaskConfig, text: str, top_k: int = 5) -> LogitLensResult:
    """Parse ``text`` against ``task`` and read the model's answer after every layer.

    Unparsable or too-long input comes back with ``error`` set, never raised.
    """
    result = LogitLensResult(text=text, kind=model.kind)
    try:
        expression = parse_expression(text, task)
    except ExpressionError as exc:
        result.error = str(exc)
        return result
    result.expression, result.truth = expression, expression.answer()
    if not model.fits(expression, task):
        result.error = "expression is too long for this model"
        return result
    ids = model.prompt_ids(expression)
    position = model.readout_position(len(ids))
    states = residual_stream(model, np.asarray([ids], dtype=np.int64))
    probs = read_out(model, np.stack([h[0, position] for h in states]))
    labels = model.output_labels()
    k = max(1, int(top_k))
    result.tokens = VOCAB.decode(ids)
    result.position = position
    result.layer_names = ["embedding"] + [f"block {i + 1}" for i in range(len(states) - 1)]
    result.probs = probs
    result.labels = labels
    result.layers = [[(labels[int(c)], float(p[c])) for c in np.argsort(-p, kind="stable")[:k]] for p in probs]
    return result
