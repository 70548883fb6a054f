"""Multi-head self-attention, batched over batch and heads (no Python loops).

Forward, x (B·T, d), H heads of size dₕ = d/H:
    [Q K V] = x W_qkv + b_qkv                    one fused GEMM, split and viewed as (B, H, T, dₕ)
    S = Q Kᵀ / √dₕ + M                          M = 0 where allowed, −1e9 at padding keys / future tokens
    P = softmax(S)                               (B, H, T, T) — kept in ``attn_weights`` for inspection
    O = P V,  y = concat_heads(O) W_o + b_o
Backward, upstream G = dL/dy:
    dO = G W_oᵀ (per head)      dV = Pᵀ dO        dP = dO Vᵀ
    dS = P ⊙ (dP − Σⱼ dP ⊙ P)  (softmax backward), then scaled by 1/√dₕ
    dQ = dS K,  dK = dSᵀ Q,  then dx = [dQ dK dV] W_qkvᵀ and dW_qkv = xᵀ [dQ dK dV]
(The original llmlearn routed V's gradient into W_q and W_k; the gradient checks in tests/ guard this.)
"""

from __future__ import annotations

import numpy as np

from core.layers.linear import Linear
from core.layers.softmax import softmax, softmax_backward
from core.params import ParameterStore

MASK_VALUE = -1e9


def attention_bias(
    key_mask: np.ndarray | None, time: int, causal: bool, dtype: np.dtype
) -> np.ndarray | None:
    """Additive mask broadcastable to (B, H, T, T): 0 where a query may look, −1e9 where it may not.

    ``key_mask`` (B, T) is True at real tokens; padding keys are hidden from every query. With a causal
    mask, query t also cannot see keys after t.
    """
    bias: np.ndarray | None = None
    if key_mask is not None and not key_mask.all():
        bias = np.where(key_mask, 0.0, MASK_VALUE).astype(dtype)[:, None, None, :]
    if causal:
        future = np.triu(np.full((time, time), MASK_VALUE, dtype=dtype), k=1)
        bias = future if bias is None else bias + future
    return bias


class MultiHeadSelfAttention:
    def __init__(self, store: ParameterStore, name: str, d_model: int, n_heads: int, rng: np.random.Generator):
        if d_model % n_heads:
            raise ValueError(f"n_heads {n_heads} does not divide d_model {d_model}")
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        self.qkv = Linear(store, f"{name}.qkv", d_model, 3 * d_model, rng)
        self.out = Linear(store, f"{name}.out", d_model, d_model, rng)
        self.scale = 1.0 / np.sqrt(self.d_head)
        self.attn_weights: np.ndarray | None = None  # (B, H, T, T) of the last forward
        self._cache: tuple[np.ndarray, np.ndarray, np.ndarray, int, int] | None = None

    def forward(self, x: np.ndarray, batch: int, time: int, bias: np.ndarray | None) -> np.ndarray:
        H, dh = self.n_heads, self.d_head
        qkv = self.qkv.forward(x).reshape(batch, time, 3, H, dh).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # each (B, H, T, dₕ), views
        scores = q @ k.transpose(0, 1, 3, 2)
        scores *= self.scale
        if bias is not None:
            scores += bias
        p = softmax(scores)
        o = p @ v  # (B, H, T, dₕ)
        self.attn_weights = p
        self._cache = (q, k, v, batch, time)
        o2d = o.transpose(0, 2, 1, 3).reshape(batch * time, self.d_model)
        return self.out.forward(o2d)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        assert self._cache is not None and self.attn_weights is not None, "backward called before forward"
        q, k, v, batch, time = self._cache
        p = self.attn_weights
        H, dh = self.n_heads, self.d_head
        do = self.out.backward(dout).reshape(batch, time, H, dh).transpose(0, 2, 1, 3)
        dqkv = np.empty((batch, time, 3, H, dh), dtype=dout.dtype)
        dqkv_v = dqkv.transpose(2, 0, 3, 1, 4)  # (3, B, H, T, dₕ) view to write into
        np.matmul(p.transpose(0, 1, 3, 2), do, out=dqkv_v[2])
        dp = do @ v.transpose(0, 1, 3, 2)
        ds = softmax_backward(p, dp)
        ds *= self.scale
        np.matmul(ds, k, out=dqkv_v[0])
        np.matmul(ds.transpose(0, 1, 3, 2), q, out=dqkv_v[1])
        return self.qkv.backward(dqkv.reshape(batch * time, 3 * self.d_model))
