"""The shared trunk of both models: token embedding + positions → N transformer blocks → final LayerNorm.

It owns the parameter store (one flat buffer for all parameters), the random generator used for
initialisation and dropout, and the dtype (float32 for training, float64 for gradient checks).
"""

from __future__ import annotations

import numpy as np

from core.nn.config import ModelConfig
from core.nn.layers.attention import attention_bias
from core.nn.layers.block import TransformerBlock
from core.nn.layers.dropout import Dropout
from core.nn.layers.embedding import Embedding
from core.nn.layers.layernorm import LayerNorm
from core.nn.layers.positional import LearnedPositions, SinusoidalPositions
from core.nn.params import ParameterStore


class TransformerBackbone:
    causal = False

    def __init__(self, config: ModelConfig, seed: int = 0, dtype: np.dtype | type = np.float32) -> None:
        self.config = config
        self.seed = seed
        self.dtype = np.dtype(dtype)
        self.rng = np.random.default_rng(seed)
        self.params = ParameterStore(self.dtype)
        c, s, rng = config, self.params, self.rng
        self.embed = Embedding(s, "embed", c.vocab_size, c.d_model, rng)
        self.pos: SinusoidalPositions | LearnedPositions
        if c.positional == "learned":
            self.pos = LearnedPositions(s, "pos", c.max_len, c.d_model, rng)
        else:
            self.pos = SinusoidalPositions(c.max_len, c.d_model, self.dtype)
        self.drop = Dropout(c.dropout, rng)
        self.blocks = [
            TransformerBlock(s, f"blocks.{i}", c.d_model, c.n_heads, c.d_ff, c.activation, c.dropout,
                             c.norm == "pre", rng)
            for i in range(c.n_layers)
        ]
        # Pre-LN leaves the residual stream unnormalised, so a final LayerNorm precedes the head.
        self.ln_f = LayerNorm(s, "ln_f", c.d_model) if c.norm == "pre" else None
        self._build_head()
        self.params.finalize()
        self.training = True
        self._bt = (0, 0)

    def _build_head(self) -> None:
        raise NotImplementedError

    # -- modes ----------------------------------------------------------------------------------
    def train(self, training: bool = True) -> None:
        """Switch dropout on (training) or off (evaluation)."""
        self.training = training
        self.drop.training = training
        for block in self.blocks:
            block.set_training(training)

    def eval(self) -> None:
        self.train(False)

    # -- trunk ----------------------------------------------------------------------------------
    def forward_trunk(self, tokens: np.ndarray, pad_mask: np.ndarray | None, first_only: bool = False) -> np.ndarray:
        """tokens (B, T) → hidden states (B·T, d) after the last block (and final LN); with ``first_only``
        the last block computes position 0 only and this returns (B, d)."""
        batch, time = tokens.shape
        self._bt = (batch, time)
        x = self.embed.forward(tokens).astype(self.dtype, copy=False)
        x = self.drop.forward(self.pos.forward(x, batch, time))
        bias = attention_bias(pad_mask, time, self.causal, self.dtype)
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            x = block.forward(x, batch, time, bias, first_only and i == last)
        return self.ln_f.forward(x) if self.ln_f is not None else x

    def backward_trunk(self, dh: np.ndarray) -> None:
        if self.ln_f is not None:
            dh = self.ln_f.backward(dh)
        for block in reversed(self.blocks):
            dh = block.backward(dh)
        dh = self.pos.backward(self.drop.backward(dh))
        self.embed.backward(dh)

    def attention_maps(self) -> list[np.ndarray]:
        """Attention weights (B, H, T, T) of each layer from the last forward pass."""
        return [b.attn.attn_weights for b in self.blocks if b.attn.attn_weights is not None]

    @property
    def num_parameters(self) -> int:
        return self.params.num_parameters
