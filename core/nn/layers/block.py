"""Transformer block: attention and feed-forward sublayers, each wrapped in a residual connection.

Pre-LN (default; trains stably without warm-up):   x = x + Attn(LN₁(x));  x = x + FFN(LN₂(x))
Post-LN (the 2017 paper):                           x = LN₁(x + Attn(x));  x = LN₂(x + FFN(x))
Backward of a residual x + f(x) is dout + f'(x)ᵀ dout: the gradient flows around each sublayer.
"""

from __future__ import annotations

import numpy as np

from core.nn.layers.attention import MultiHeadSelfAttention, Rows
from core.nn.layers.dropout import Dropout
from core.nn.layers.feedforward import FeedForward
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
        skip = x if self._local is None else x[self._local]  # the residual carries just the query rows
        if self.pre_ln:
            a = self.attn.forward(self.ln1.forward(x), batch, time, bias, rows, queries)
            x = skip + self.drop1.forward(a)
            return x + self.drop2.forward(self.ffn.forward(self.ln2.forward(x)))
        x = self.ln1.forward(skip + self.drop1.forward(self.attn.forward(x, batch, time, bias, rows, queries)))
        return self.ln2.forward(x + self.drop2.forward(self.ffn.forward(x)))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self.pre_ln:
            d = dout + self.ln2.backward(self.ffn.backward(self.drop2.backward(dout)))
            dx = self.ln1.backward(self.attn.backward(self.drop1.backward(d)))
        else:
            d = self.ln2.backward(dout)
            d = d + self.ffn.backward(self.drop2.backward(d))
            d = self.ln1.backward(d)
            dx = self.attn.backward(self.drop1.backward(d))
        if self._local is None:
            return d + dx
        dx[self._local] += d  # the residual of the query rows (distinct rows, so this += is exact)
        return dx
