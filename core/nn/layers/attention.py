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

Rows. Two kinds of position are never read and need not be computed (each test in
tests/test_decoder_shortcut.py checks the result is the full computation's, to round-off):
  · padding (the trunk in training holds only the real tokens: ``rows``). A padding key gets P = 0 exactly,
    a padding query's output is never used, so dropping both changes nothing for the real tokens;
  · the last layer's positions the loss does not read (``queries``: the encoder's position 0, the
    decoder's answer positions). K and V still come from every held row, so each query sees exactly the
    keys it sees in the full computation.
Either way the attention itself stays one batched matmul: K and V are scattered to their places in the
(B, H, T, dₕ) grid (zero at the missing ones, which the mask hides), the queries to a (B, H, m, dₕ) grid
of per-sequence slots, m = the most queries any sequence has (zero in unused slots, whose output is
dropped and whose dO = 0 adds exactly nothing to dK and dV).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.nn.layers.hooks import Hook, Where
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


@dataclass(frozen=True)
class Rows:
    """Some of a batch's B·T positions, in the order an activation (N, d) holds them.

    ``flat`` (N,): ascending flat indices b·T + t. The attention lays them out per sequence: sequence b's
    rows fill slots b·m + 0, 1, … of a (B, m) grid, m = the most rows any sequence has; ``slots`` (N,) is
    each row's slot and ``positions`` (B, m) each slot's time step t (0 in unused slots)."""

    flat: np.ndarray
    slots: np.ndarray
    positions: np.ndarray

    @classmethod
    def at(cls, flat: np.ndarray, batch: int, time: int) -> Rows:
        """Rows ``flat`` (ascending, distinct indices into B·T) of ``batch`` sequences of ``time`` positions."""
        flat = np.asarray(flat)
        if flat.ndim != 1 or flat.size == 0 or not np.issubdtype(flat.dtype, np.integer):
            raise ValueError(f"rows must be a non-empty 1-D integer array, got shape {flat.shape}")
        if flat[0] < 0 or flat[-1] >= batch * time or (flat.size > 1 and np.any(np.diff(flat) <= 0)):
            raise ValueError(f"rows must be ascending, distinct and in 0..{batch * time - 1}")
        seq, pos = np.divmod(flat, time)
        counts = np.bincount(seq, minlength=batch)
        m = int(counts.max())
        rank = np.arange(flat.size) - (np.cumsum(counts) - counts)[seq]  # j: the row's place in its sequence
        slots = seq * m + rank
        positions = np.zeros(batch * m, dtype=np.intp)
        positions[slots] = pos
        return cls(flat, slots, positions.reshape(batch, m))

    @classmethod
    def first(cls, batch: int, time: int) -> Rows:
        """Position 0 of every sequence (where the encoder reads its answer)."""
        return cls.at(np.arange(batch) * time, batch, time)

    @property
    def per_sequence(self) -> int:
        """m, the slots of each sequence."""
        return int(self.positions.shape[1])

    def among(self, held: Rows | None) -> np.ndarray:
        """Where these rows are among the rows ``held`` (None: all B·T, in order) of an activation."""
        if held is None:
            return self.flat
        index = np.searchsorted(held.flat, self.flat)
        if np.any(index >= held.flat.size) or np.any(held.flat[np.minimum(index, held.flat.size - 1)] != self.flat):
            raise ValueError("query rows must be among the rows the activation holds")
        return index

    def bias(self, bias: np.ndarray | None) -> np.ndarray | None:
        """The rows of an attention bias (…, T, T) for the slots: (…, m, T). When every sequence's rows are
        its first positions (as the real tokens are, with right padding), slot j is position j and this is
        a view; otherwise the rows at ``positions``, (B, 1, m, T). A bias that does not depend on the query
        (padding keys only, (B, 1, 1, T)) is returned as it is."""
        if bias is None or bias.shape[-2] == 1:
            return bias
        m = self.per_sequence
        if np.array_equal(self.positions.reshape(-1)[self.slots], self.slots % m):
            return bias[..., :m, :]
        batch = self.positions.shape[0]
        full = np.broadcast_to(bias, (batch, 1, *bias.shape[-2:]))
        return full[np.arange(batch)[:, None], 0, self.positions][:, None]


class MultiHeadSelfAttention:
    def __init__(self, store: ParameterStore, name: str, d_model: int, n_heads: int, rng: np.random.Generator):
        if d_model % n_heads:
            raise ValueError(f"n_heads {n_heads} does not divide d_model {d_model}")
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        self.qkv = Linear(store, f"{name}.qkv", d_model, 3 * d_model, rng)
        assert self.qkv.b is not None  # created with a bias
        self._qkv_b = self.qkv.b  # the rows path slices it by hand
        self.out = Linear(store, f"{name}.out", d_model, d_model, rng)
        self.scale = 1.0 / math.sqrt(self.d_head)  # a Python float: an np.float64 would upcast float32 work
        self.attn_weights: np.ndarray | None = None  # (B, H, T, T) of the last forward; (B, H, m, T) with rows
        self._cache: tuple[np.ndarray, np.ndarray, np.ndarray, int, int] | None = None  # Q, K, V, B, T
        self._rows: Rows | None = None
        self._queries: Rows | None = None
        self._x = self._xq = self._local = np.empty(0)  # the query path's inputs, for its backward
        self._hook: Hook | None = None  # the "heads" hook of the last forward (core.nn.layers.hooks)

    def forward(
        self,
        x: np.ndarray,
        batch: int,
        time: int,
        bias: np.ndarray | None,
        rows: Rows | None = None,
        queries: Rows | None = None,
        hook: Hook | None = None,
        where: Where | None = None,
    ) -> np.ndarray:
        """x (B·T, d) → (B·T, d). ``rows``: x holds only these positions, (R, d), and so does the output
        (None: all B·T); ``bias`` must hide the others as keys. ``queries``: only these of x's positions
        query, → (N, d) in their order (None: every row of x). ``hook`` sees the concatenated head outputs
        before W_o, ``where`` being the output rows' places (see ``hooks``)."""
        self._rows, self._queries, self._hook = rows, queries, hook
        if queries is not None:
            return self._out(self._forward_queries(x, batch, time, bias, rows, queries), where)
        qkv = self.qkv.forward(x)
        if rows is not None:  # to the (B·T) grid; the missing (padding) positions: zero, and masked
            grid = np.zeros((batch * time, 3 * self.d_model), dtype=x.dtype)
            grid[rows.flat] = qkv
            qkv = grid
        qkv5 = qkv.reshape(batch, time, 3, self.n_heads, self.d_head).transpose(2, 0, 3, 1, 4)
        o = self._attend(qkv5[0], qkv5[1], qkv5[2], bias, batch, time)  # Q, K, V (B, H, T, dₕ): views
        return self._out(o if rows is None else o[rows.flat], where)

    def _out(self, o: np.ndarray, where: Where | None) -> np.ndarray:
        """y = (the hooked) concatenated heads · W_o + b_o."""
        if self._hook is not None:
            assert where is not None, "a hooked attention needs the rows' places"
            o = self._hook.forward(o, where)
        return self.out.forward(o)

    def _out_backward(self, dout: np.ndarray) -> np.ndarray:
        do = self.out.backward(dout)
        return do if self._hook is None else self._hook.backward(do)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        assert self._cache is not None, "backward called before forward"
        rows, queries = self._rows, self._queries
        if queries is not None:
            return self._backward_queries(dout, rows, queries)
        _, _, _, batch, time = self._cache
        H, dh, d = self.n_heads, self.d_head, self.d_model
        do = self._out_backward(dout)
        if rows is not None:
            grid = np.zeros((batch * time, d), dtype=dout.dtype)
            grid[rows.flat] = do
            do = grid
        # dQ, dK and dV written straight into one (B, T, 3, H, dₕ) buffer: qkv's upstream without a copy
        dqkv = np.empty((batch, time, 3, H, dh), dtype=dout.dtype)
        dq, dk, dv = dqkv.transpose(2, 0, 3, 1, 4)
        self._attend_backward(do, dq, dk, dv)
        dqkv2 = dqkv.reshape(batch * time, 3 * d)
        return self.qkv.backward(dqkv2 if rows is None else dqkv2[rows.flat])

    # -- the core: S = QKᵀ/√dₕ + M, P = softmax(S), O = PV, and its backward --------------------------------
    def _attend(self, q: np.ndarray, k: np.ndarray, v: np.ndarray, bias: np.ndarray | None,
                batch: int, time: int) -> np.ndarray:
        """Q (B, H, T_q, dₕ), K and V (B, H, T, dₕ) → O with heads concatenated, (B·T_q, d)."""
        scores = q @ k.transpose(0, 1, 3, 2)
        scores *= self.scale
        if bias is not None:
            scores += bias
        p = softmax_inplace(scores)  # (B, H, T_q, T)
        o = np.empty((batch, q.shape[2], self.n_heads, self.d_head), dtype=q.dtype)
        np.matmul(p, v, out=o.transpose(0, 2, 1, 3))  # written in (B, T_q, H, dₕ) order: heads concatenated
        self.attn_weights = p
        self._cache = (q, k, v, batch, time)
        return o.reshape(-1, self.d_model)

    def _attend_backward(self, do: np.ndarray, dq: np.ndarray, dk: np.ndarray, dv: np.ndarray) -> None:
        """dO (B·T_q, d) → dQ, dK, dV written into the given (B, H, ·, dₕ) arrays."""
        assert self._cache is not None and self.attn_weights is not None, "backward called before forward"
        q, k, v, batch, _ = self._cache
        p = self.attn_weights
        # one copy to (B, H, T_q, dₕ) order makes both matmuls with dO several times faster than on a view
        do_h = np.ascontiguousarray(do.reshape(batch, -1, self.n_heads, self.d_head).transpose(0, 2, 1, 3))
        np.matmul(p.transpose(0, 1, 3, 2), do_h, out=dv)
        dp = do_h @ v.transpose(0, 1, 3, 2)
        ds = softmax_backward(p, dp)
        ds *= self.scale
        np.matmul(ds, k, out=dq)
        np.matmul(ds.transpose(0, 1, 3, 2), q, out=dk)

    # -- only some positions query (see the module docstring) ------------------------------------------------
    def _forward_queries(self, x: np.ndarray, batch: int, time: int, bias: np.ndarray | None,
                         rows: Rows | None, queries: Rows) -> np.ndarray:
        """The concatenated head outputs (N, d) at the query rows (``_out`` projects them)."""
        H, dh, d = self.n_heads, self.d_head, self.d_model
        w, b = self.qkv.w.value, self._qkv_b.value
        local = queries.among(rows)
        xq = x[local]
        m = queries.per_sequence
        q = np.zeros((batch * m, d), dtype=x.dtype)  # unused slots keep a zero query
        q[queries.slots] = xq @ w[:, :d] + b[:d]
        kv = x @ w[:, d:] + b[d:]
        if rows is not None:  # to the (B·T) grid, as above
            grid = np.zeros((batch * time, 2 * d), dtype=x.dtype)
            grid[rows.flat] = kv
            kv = grid
        kv5 = kv.reshape(batch, time, 2, H, dh).transpose(2, 0, 3, 1, 4)
        o = self._attend(q.reshape(batch, m, H, dh).transpose(0, 2, 1, 3), kv5[0], kv5[1], queries.bias(bias),
                         batch, time)
        self._x, self._xq, self._local = x, xq, local
        return o[queries.slots]

    def _backward_queries(self, dout: np.ndarray, rows: Rows | None, queries: Rows) -> np.ndarray:
        assert self._cache is not None, "backward called before forward"
        _, _, _, batch, time = self._cache
        x, xq, local = self._x, self._xq, self._local
        H, dh, d = self.n_heads, self.d_head, self.d_model
        m = queries.per_sequence
        do = np.zeros((batch * m, d), dtype=dout.dtype)  # unused slots: dO = 0
        do[queries.slots] = self._out_backward(dout)
        dq = np.empty((batch, m, H, dh), dtype=dout.dtype)
        dkv = np.empty((batch, time, 2, H, dh), dtype=dout.dtype)
        dk, dv = dkv.transpose(2, 0, 3, 1, 4)
        self._attend_backward(do, dq.transpose(0, 2, 1, 3), dk, dv)
        dq2 = dq.reshape(batch * m, d)[queries.slots]  # (N, d): the used slots
        dkv2 = dkv.reshape(batch * time, 2 * d)
        if rows is not None:
            dkv2 = dkv2[rows.flat]  # (R, 2d): the held rows
        # Q came from the query rows of x, K and V from all of them
        w, gw, gb = self.qkv.w.value, self.qkv.w.grad, self._qkv_b.grad
        np.matmul(xq.T, dq2, out=gw[:, :d])
        np.matmul(x.T, dkv2, out=gw[:, d:])
        col_sum(dq2, out=gb[:d])
        col_sum(dkv2, out=gb[d:])
        dx = dkv2 @ w[:, d:].T
        dx[local] += dq2 @ w[:, :d].T  # distinct rows, so += on the gathered rows is exact
        return dx
