"""Every intermediate of one forward pass, recomputed in float64 from the parameter values.

The lessons show the numbers *inside* a block — one head's Q and K, the scores before and after the
mask, LayerNorm's statistics, the FFN's pre-activations — which the layers compute but do not keep.
This trace recomputes them with the library's own pieces (``attention_bias``, ``layer_norm``,
``softmax``, the activations) on the parameter *values*, so no layer cache, mode or random state of the
model changes, and a model that another thread trains is only read. A test checks that the trace ends in
exactly the logits the model's own ``forward`` gives, so the two cannot drift apart unnoticed.

Per block, pre-LN (the default):                 post-LN:
    a = LN₁(x)                                       a = x
    q, k, v = a W_qkv + b  (split in H heads)        (same)
    S = q kᵀ / √dₕ,  P = softmax(S + M)              (same)
    x' = x + (P v) W_o + b_o                         x' = LN₁(x + (P v) W_o + b_o)
    u = LN₂(x') W₁ + b₁,  out = x' + act(u) W₂ + b₂   u = x' W₁ + b₁,  out = LN₂(x' + act(u) W₂ + b₂)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.nn.layers.activations import make_activation
from core.nn.layers.attention import attention_bias
from core.nn.layers.layernorm import layer_norm
from core.nn.models.factory import Model


@dataclass
class BlockTrace:
    """One block's intermediates, batch first: x (B, T, d); q, k, v (B, H, T, dₕ); scores (B, H, T, T)."""

    x_in: np.ndarray
    ln1_input: np.ndarray  # what LN₁ normalises (pre-LN: x_in; post-LN: x_in + attention)
    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    scores: np.ndarray  # q kᵀ / √dₕ, before the mask
    bias: np.ndarray  # (B, 1, T, T): 0 where a query may look, −1e9 where it may not
    weights: np.ndarray  # softmax(scores + bias)
    x_mid: np.ndarray  # the residual stream after the attention sublayer
    ln2_input: np.ndarray
    hidden_pre: np.ndarray  # (B, T, d_ff) the FFN's pre-activations u
    x_out: np.ndarray


@dataclass
class Trace:
    ids: np.ndarray  # (B, T)
    pad_mask: np.ndarray  # (B, T) True at real tokens
    embedded: np.ndarray  # token embeddings E[ids] (B, T, d)
    positions: np.ndarray  # the position signal added (T, d)
    blocks: list[BlockTrace] = field(default_factory=list)
    final: np.ndarray = field(default_factory=lambda: np.zeros(0))  # after ln_f (B, T, d)
    logits: np.ndarray = field(default_factory=lambda: np.zeros(0))  # the head at every position (B, T, C)

    @property
    def stream(self) -> list[np.ndarray]:
        """The residual stream h₀ (embeddings + positions), h₁, …, h_L."""
        return [self.blocks[0].x_in, *(b.x_out for b in self.blocks)] if self.blocks else []


def _value(model: Model, name: str) -> np.ndarray:
    return model.params[name].value.astype(np.float64)


def _ln(model: Model, name: str, x: np.ndarray) -> np.ndarray:
    return layer_norm(x, _value(model, f"{name}.gamma"), _value(model, f"{name}.beta"))


def position_table(model: Model, time: int) -> np.ndarray:
    """The (T, d) position signal: the fixed sinusoid table, or the learned ``pos.weight`` rows."""
    table = model.pos.table
    values = table if isinstance(table, np.ndarray) else table.value
    return values[:time].astype(np.float64)


def trace(model: Model, ids: np.ndarray, pad_mask: np.ndarray | None = None) -> Trace:
    """The forward pass over ``ids`` (B, T) (right-padded; ``pad_mask`` True at real tokens) in float64."""
    ids = np.asarray(ids, dtype=np.int64)
    batch, time = ids.shape
    mask = np.ones((batch, time), dtype=bool) if pad_mask is None else np.asarray(pad_mask, dtype=bool)
    c = model.config
    H, dh, d = c.n_heads, c.d_model // c.n_heads, c.d_model
    emb = _value(model, "embed.weight")[ids]
    pos = position_table(model, time)
    x = emb + pos
    raw = attention_bias(mask, time, model.causal, np.dtype(np.float64))
    bias = np.zeros((batch, 1, time, time)) + (0.0 if raw is None else raw)
    result = Trace(ids, mask, emb, pos)
    act = make_activation(c.activation)
    for i in range(c.n_layers):
        p = f"blocks.{i}"
        pre = c.norm == "pre"
        a = _ln(model, f"{p}.ln1", x) if pre else x
        qkv = a @ _value(model, f"{p}.attn.qkv.w") + _value(model, f"{p}.attn.qkv.b")
        q, k, v = qkv.reshape(batch, time, 3, H, dh).transpose(2, 0, 3, 1, 4)
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(dh)
        z = scores + bias
        z = np.exp(z - z.max(axis=-1, keepdims=True))
        weights = z / z.sum(axis=-1, keepdims=True)
        o = (weights @ v).transpose(0, 2, 1, 3).reshape(batch, time, d)
        attn = o @ _value(model, f"{p}.attn.out.w") + _value(model, f"{p}.attn.out.b")
        ln1_input = x if pre else x + attn
        x_mid = x + attn if pre else _ln(model, f"{p}.ln1", ln1_input)
        f_in = _ln(model, f"{p}.ln2", x_mid) if pre else x_mid
        u = f_in @ _value(model, f"{p}.ffn.fc1.w") + _value(model, f"{p}.ffn.fc1.b")
        f = act.forward(u) @ _value(model, f"{p}.ffn.fc2.w") + _value(model, f"{p}.ffn.fc2.b")
        ln2_input = x_mid if pre else x_mid + f
        x_out = x_mid + f if pre else _ln(model, f"{p}.ln2", ln2_input)
        result.blocks.append(BlockTrace(x, ln1_input, q, k, v, scores, bias, weights, x_mid, ln2_input, u, x_out))
        x = x_out
    result.final = _ln(model, "ln_f", x) if model.ln_f is not None else x
    head_b = _value(model, "head.b") if "head.b" in model.params.names() else 0.0
    result.logits = result.final @ _value(model, "head.w") + head_b
    return result
