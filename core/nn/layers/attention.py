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

import math

import numpy as np

from core.nn.layers.linear import Linear
from core.nn.layers.reductions import col_sum
from core.nn.layers.softmax import softmax_backward, softmax_inplace
from core.nn.params import ParameterStore

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
        assert self.qkv.b is not None  # created with a bias
        self._qkv_b = self.qkv.b  # the position-0-only path slices it by hand
        self.out = Linear(store, f"{name}.out", d_model, d_model, rng)
        self.scale = 1.0 / math.sqrt(self.d_head)  # a Python float: an np.float64 would upcast float32 work
        self.attn_weights: np.ndarray | None = None  # (B, H, T, T) of the last forward
        self._cache: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int, bool] | None = None

    def forward(
        self, x: np.ndarray, batch: int, time: int, bias: np.ndarray | None, first_only: bool = False
    ) -> np.ndarray:
        """x (B·T, d) → (B·T, d); with ``first_only``, only position 0 queries: → (B, d).

        A classifier that reads position 0 needs nothing else from its last layer, and skipping the other
        queries (and, in the block, their FFN) removes about a third of a training step's FLOPs while the
        gradients stay exact: every key and value still sees every position.
        """
        H, dh, d = self.n_heads, self.d_head, self.d_model
        if first_only:
            w, b = self.qkv.w.value, self._qkv_b.value
            x0 = x.reshape(batch, time, d)[:, 0]
            q = (x0 @ w[:, :d] + b[:d]).reshape(batch, 1, H, dh).transpose(0, 2, 1, 3)
            kv = (x @ w[:, d:] + b[d:]).reshape(batch, time, 2, H, dh).transpose(2, 0, 3, 1, 4)
            k, v = kv[0], kv[1]
            if bias is not None:
                bias = bias[..., :1, :] if bias.shape[-2] == time else bias
        else:
            qkv = self.qkv.forward(x).reshape(batch, time, 3, H, dh).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]  # each (B, H, T, dₕ), views
        scores = q @ k.transpose(0, 1, 3, 2)
        scores *= self.scale
        if bias is not None:
            scores += bias
        p = softmax_inplace(scores)  # (B, H, T_q, T)
        o = p @ v  # (B, H, T_q, dₕ)
        self.attn_weights = p
        self._cache = (x, q, k, v, batch, time, first_only)
        t_q = q.shape[2]
        return self.out.forward(o.transpose(0, 2, 1, 3).reshape(batch * t_q, d))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        assert self._cache is not None and self.attn_weights is not None, "backward called before forward"
        x, q, k, v, batch, time, first_only = self._cache
        p = self.attn_weights
        H, dh, d = self.n_heads, self.d_head, self.d_model
        t_q = q.shape[2]
        do = self.out.backward(dout).reshape(batch, t_q, H, dh).transpose(0, 2, 1, 3)
        # Gradients of Q, K and V written straight into one (B, T_q|T, 3|2, H, dₕ) buffer.
        parts = 2 if first_only else 3
        dkv = np.empty((batch, time, parts, H, dh), dtype=dout.dtype)
        dkv_v = dkv.transpose(2, 0, 3, 1, 4)
        dq = np.empty((batch, t_q, H, dh), dtype=dout.dtype) if first_only else None
        dq_v = dq.transpose(0, 2, 1, 3) if dq is not None else dkv_v[0]
        k_slot, v_slot = (0, 1) if first_only else (1, 2)
        np.matmul(p.transpose(0, 1, 3, 2), do, out=dkv_v[v_slot])
        dp = do @ v.transpose(0, 1, 3, 2)
        ds = softmax_backward(p, dp)
        ds *= self.scale
        np.matmul(ds, k, out=dq_v)
        np.matmul(ds.transpose(0, 1, 3, 2), q, out=dkv_v[k_slot])
        if not first_only:
            return self.qkv.backward(dkv.reshape(batch * time, 3 * d))
        # first_only: Q came from the position-0 rows, K and V from all rows.
        w, gw = self.qkv.w.value, self.qkv.w.grad
        gb = self._qkv_b.grad
        assert dq is not None
        dq2d, dkv2d = dq.reshape(batch, d), dkv.reshape(batch * time, 2 * d)
        x0 = x.reshape(batch, time, d)[:, 0]
        np.matmul(x0.T, dq2d, out=gw[:, :d])
        np.matmul(x.T, dkv2d, out=gw[:, d:])
        col_sum(dq2d, out=gb[:d])
        col_sum(dkv2d, out=gb[d:])
        dx = dkv2d @ w[:, d:].T
        dx.reshape(batch, time, d)[:, 0] += dq2d @ w[:, :d].T
        return dx
