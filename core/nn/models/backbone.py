"""The shared trunk of both models: token embedding + positions → N transformer blocks → final LayerNorm.

It owns the parameter store (one flat buffer for all parameters), the random generator used for
initialisation and dropout, and the dtype (float32 for training, float64 for gradient checks).

What differs between the two kinds of model is declared here and answered by each subclass, so callers
never ask which kind they hold: how an expression becomes the model's input (``prompt_ids``), whether it
fits (``fits``), where the answer is read (``readout_position``), what the head's outputs name
(``output_labels``), the logits a loss needs (``forward_batch``), the training objective and its
correctness rule (``objective``), and the answers the model gives to a batch (``batch_answers``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar, Literal

import numpy as np

from core.data.batching import Batch
from core.data.expression import Expression
from core.data.task import TaskConfig
from core.data.vocab import VOCAB, Vocabulary
from core.nn.config import ModelConfig
from core.nn.layers.attention import Rows, attention_bias
from core.nn.layers.block import TransformerBlock
from core.nn.layers.dropout import Dropout
from core.nn.layers.embedding import Embedding
from core.nn.layers.layernorm import LayerNorm
from core.nn.layers.positional import LearnedPositions, SinusoidalPositions
from core.nn.params import ParameterStore


class TransformerBackbone:
    causal: ClassVar[bool] = False
    kind: ClassVar[Literal["encoder", "decoder"]]

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
        self._held: Rows | None = None  # the positions the last forward's blocks held (None: all)

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

    @contextmanager
    def eval_mode(self) -> Iterator[None]:
        """Evaluation mode (dropout off) for the duration of a ``with`` block, then the caller's mode back."""
        was_training = self.training
        self.eval()
        try:
            yield
        finally:
            self.train(was_training)

    # -- what each kind of model answers differently ------------------------------------------------
    def prompt_ids(self, expression: Expression, vocab: Vocabulary = VOCAB) -> list[int]:
        """The input token ids the model reads to answer ``expression``."""
        raise NotImplementedError

    def readout_position(self, prompt_length: int) -> int:
        """The input position whose hidden state the head turns into (the first token of) the answer."""
        raise NotImplementedError

    def fits(self, expression: Expression, task: TaskConfig) -> bool:
        """Whether the model can read ``expression`` and give any answer of ``task`` within ``max_len``."""
        raise NotImplementedError

    def output_labels(self, vocab: Vocabulary = VOCAB) -> list[int | str]:
        """What each of the head's outputs stands for: an answer class or a token."""
        raise NotImplementedError

    def forward_batch(self, batch: Batch) -> np.ndarray:
        """The logits ``objective`` scores for ``batch``: in training mode only what the loss reads (the
        encoder: position 0, as always; the decoder: its scored positions, (N, V)), in evaluation mode
        every position, so that attention maps are complete."""
        raise NotImplementedError

    def objective(self, logits: np.ndarray, batch: Batch,
                  label_smoothing: float = 0.0) -> tuple[float, np.ndarray, np.ndarray]:
        """(mean cross-entropy, dL/dlogits, which rows (B,) are answered correctly) for this forward's logits
        (those of ``forward`` or of ``forward_batch``)."""
        raise NotImplementedError

    def batch_answers(self, batch: Batch, logits: np.ndarray, max_new_tokens: int,
                      vocab: Vocabulary = VOCAB) -> np.ndarray:
        """The answer (B,) the model gives each row of ``batch`` (−1: none), given the batch's ``logits``;
        a decoder writes up to ``max_new_tokens`` tokens."""
        raise NotImplementedError

    # -- trunk ----------------------------------------------------------------------------------
    def forward_trunk(self, tokens: np.ndarray, pad_mask: np.ndarray | None,
                      rows: np.ndarray | None = None) -> np.ndarray:
        """tokens (B, T) → hidden states (B·T, d) after the last block (and final LN).

        With ``rows`` (ascending flat indices b·T + t of real tokens), only what a loss reading those N
        positions needs, → (N, d): every block holds just the real tokens (padding is never read), and the
        last block — and so the final LN and the head — computes just the N rows, its keys and values
        still from every real token (see ``attention``). Same values and gradients as the full trunk's at
        those rows (tests/test_decoder_shortcut.py); only dropout draws differ, having fewer rows to draw."""
        batch, time = tokens.shape
        self._bt = (batch, time)
        x = self.embed.forward(tokens).astype(self.dtype, copy=False)
        x = self.drop.forward(self.pos.forward(x, batch, time))
        bias = attention_bias(pad_mask, time, self.causal, self.dtype)
        held = queries = None
        if rows is not None:
            queries = Rows.at(rows, batch, time)
            if pad_mask is not None and not pad_mask.all():
                held = Rows.at(np.flatnonzero(pad_mask), batch, time)
                x = x[held.flat]
        self._held = held
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            x = block.forward(x, batch, time, bias, rows=held, queries=queries if i == last else None)
        return self.ln_f.forward(x) if self.ln_f is not None else x

    def backward_trunk(self, dh: np.ndarray) -> None:
        if self.ln_f is not None:
            dh = self.ln_f.backward(dh)
        for block in reversed(self.blocks):
            dh = block.backward(dh)
        if self._held is not None:  # padding rows were never computed: their gradient is 0
            batch, time = self._bt
            full = np.zeros((batch * time, dh.shape[1]), dtype=dh.dtype)
            full[self._held.flat] = dh
            dh = full
        dh = self.pos.backward(self.drop.backward(dh))
        self.embed.backward(dh)

    def attention_maps(self) -> list[np.ndarray]:
        """Attention weights (B, H, T, T) of each layer from the last forward pass (a training-mode forward
        computes the last layer's only at the rows the loss reads: (B, H, m, T), see ``Rows``)."""
        return [b.attn.attn_weights for b in self.blocks if b.attn.attn_weights is not None]

    @property
    def num_parameters(self) -> int:
        return self.params.num_parameters
