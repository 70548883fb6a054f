"""Transformer block: attention and feed-forward sublayers, each wrapped in a residual connection.

Pre-LN (default; trains stably without warm-up):   x = x + Attn(LN₁(x));  x = x + FFN(LN₂(x))
Post-LN (the 2017 paper):                           x = LN₁(x + Attn(x));  x = LN₂(x + FFN(x))
Backward of a residual x + f(x) is dout + f'(x)ᵀ dout: the gradient flows around each sublayer.

``hooks`` (by point name, see ``core.nn.layers.hooks``) let the Lab record or replace the residual stream,
the heads' outputs, the neurons and each sublayer's output; with none, every ``_hooked`` is the identity.
"""

from __future__ import annotations

import numpy as np

from core.nn.layers.attention import MultiHeadSelfAttention, Rows
from core.nn.layers.dropout import Dropout
from core.nn.layers.feedforward import FeedForward
from core.nn.layers.hooks import HOOK_POINTS, Hook, Where
from core.nn.layers.layernorm import LayerNorm
from core.nn.params import ParameterStore


class TransformerBlock:
    def __init__(
        self,
        store: ParameterStore,
        name: str,
        d_model: int,
        n_heads: int,
        d_ff: int,
        activation: str,
        dropout: float,
        pre_ln: bool,
        rng: np.random.Generator,
    ):
        self.pre_ln = pre_ln
        self.ln1 = LayerNorm(store, f"{name}.ln1", d_model)
        self.attn = MultiHeadSelfAttention(store, f"{name}.attn", d_model, n_heads, rng)
        self.drop1 = Dropout(dropout, rng)
        self.ln2 = LayerNorm(store, f"{name}.ln2", d_model)
        self.ffn = FeedForward(store, f"{name}.ffn", d_model, d_ff, activation, rng)
        self.drop2 = Dropout(dropout, rng)
        self._local: np.ndarray | None = None  # where the last forward's query rows were in its input
        self.hooks: dict[str, Hook] = {}  # point name → hook; empty: the plain forward
        self._hooks_now: dict[str, Hook] = {}  # the hooks the last forward ran with (its backward uses them)

    def set_training(self, training: bool) -> None:
        self.drop1.training = self.drop2.training = training

    def forward(
        self,
        x: np.ndarray,
        batch: int,
        time: int,
        bias: np.ndarray | None,
        first_only: bool = False,
        rows: Rows | None = None,
        queries: Rows | None = None,
    ) -> np.ndarray:
        """x (B·T, d) → (B·T, d). ``rows``: x holds only these positions, (R, d), and so does the output.
        ``queries``: the output only at these of them, (N, d) (``first_only``: short for position 0).

        Every sublayer but attention works row by row, so dropping rows drops their work and nothing
        else; attention handles the missing positions itself (see ``attention``). A model whose loss reads
        N positions of its last block computes just their queries, attention output, residual, FFN and
        LayerNorms there; keys and values still come from every held row.
        """
        if first_only:
            queries = Rows.first(batch, time)
        self._local = None if queries is None else queries.among(rows)  # the query rows' place in x
        hooks = self._hooks_now = dict(self.hooks)
        inner = outer = None  # the places of x's rows and of the output's (only needed by hooks)
        if hooks:
            unknown = set(hooks) - set(HOOK_POINTS)
            if unknown:
                raise ValueError(f"unknown hook point(s) {sorted(unknown)}; the points are {', '.join(HOOK_POINTS)}")
            inner = Where.of(batch, time, None if rows is None else rows.flat)
            outer = inner if queries is None else Where.of(batch, time, queries.flat)
            x = self._hooked("resid_pre", x, inner)
        skip = x if self._local is None else x[self._local]  # the residual carries just the query rows
        heads, neurons = hooks.get("heads"), hooks.get("neurons")
        if self.pre_ln:
            a = self.attn.forward(self.ln1.forward(x), batch, time, bias, rows, queries, heads, outer)
            x = skip + self.drop1.forward(self._hooked("attn_out", a, outer))
            f = self.ffn.forward(self.ln2.forward(x), neurons, outer)
            x = x + self.drop2.forward(self._hooked("ffn_out", f, outer))
        else:
            a = self.attn.forward(x, batch, time, bias, rows, queries, heads, outer)
            x = self.ln1.forward(skip + self.drop1.forward(self._hooked("attn_out", a, outer)))
            f = self.ffn.forward(x, neurons, outer)
            x = self.ln2.forward(x + self.drop2.forward(self._hooked("ffn_out", f, outer)))
        return self._hooked("resid_post", x, outer)

    def _hooked(self, point: str, a: np.ndarray, where: Where | None) -> np.ndarray:
        hook = self._hooks_now.get(point)
        if hook is None:
            return a
        assert where is not None
        return hook.forward(a, where)

    def _unhooked(self, point: str, d: np.ndarray) -> np.ndarray:
        hook = self._hooks_now.get(point)
        return d if hook is None else hook.backward(d)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dout = self._unhooked("resid_post", dout)
        if self.pre_ln:
            d = dout + self.ln2.backward(self.ffn.backward(self._unhooked("ffn_out", self.drop2.backward(dout))))
            dx = self.ln1.backward(self.attn.backward(self._unhooked("attn_out", self.drop1.backward(d))))
        else:
            d = self.ln2.backward(dout)
            d = d + self.ffn.backward(self._unhooked("ffn_out", self.drop2.backward(d)))
            d = self.ln1.backward(d)
            dx = self.attn.backward(self._unhooked("attn_out", self.drop1.backward(d)))
        if self._local is None:
            return self._unhooked("resid_pre", d + dx)
        dx[self._local] += d  # the residual of the query rows (distinct rows, so this += is exact)
        return self._unhooked("resid_pre", dx)
