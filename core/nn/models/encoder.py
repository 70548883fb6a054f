"""Encoder (BERT-style) classifier: reads the whole expression, answers with one class per number.

The answer is read at position 0 — the operation token, which every expression starts with — through a
linear head over ``num_classes`` (10 for 0–9, 100 for 0–99: the whole number, not its first digit).
Attention is bidirectional; padding keys are masked so the output does not depend on padding.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np

from core.data.batching import Batch
from core.data.expression import Expression
from core.data.task import TaskConfig
from core.data.vocab import VOCAB, Vocabulary
from core.nn.layers.linear import Linear
from core.nn.layers.softmax import softmax
from core.nn.loss import cross_entropy
from core.nn.models.backbone import TransformerBackbone


class TransformerEncoder(TransformerBackbone):
    causal: ClassVar[bool] = False
    kind: ClassVar[Literal["encoder", "decoder"]] = "encoder"

    def _build_head(self) -> None:
        c = self.config
        self.head = Linear(self.params, "head", c.d_model, c.num_classes, self.rng)

    def forward(self, tokens: np.ndarray, pad_mask: np.ndarray | None = None) -> np.ndarray:
        """tokens (B, T), pad_mask (B, T) True at real tokens → logits (B, num_classes)."""
        # Training computes the last layer at position 0 only (same result, ~⅓ fewer FLOPs); evaluation
        # runs it in full so every layer's attention map is complete for inspection.
        batch, time = tokens.shape
        self._first_only = self.training
        if self.training:
            return self.head.forward(self.forward_trunk(tokens, pad_mask, rows=np.arange(batch) * time))
        h = self.forward_trunk(tokens, pad_mask)
        return self.head.forward(h.reshape(batch, time, -1)[:, 0])

    def forward_batch(self, batch: Batch) -> np.ndarray:
        """``forward`` of the batch: the encoder reads position 0 in either mode."""
        return self.forward(batch.tokens, batch.pad_mask)

    def backward(self, dlogits: np.ndarray) -> None:
        """Fill every parameter's gradient from dL/dlogits (B, num_classes)."""
        d_cls = self.head.backward(dlogits)
        if not self._first_only:
            batch, time = self._bt
            dh = np.zeros((batch, time, self.config.d_model), dtype=self.dtype)
            dh[:, 0] = d_cls
            d_cls = dh.reshape(batch * time, -1)
        self.backward_trunk(d_cls)

    def predict(self, tokens: np.ndarray, pad_mask: np.ndarray | None = None) -> np.ndarray:
        """Class probabilities (B, num_classes), in evaluation mode."""
        with self.eval_mode():
            return softmax(self.forward(tokens, pad_mask))

    # -- the encoder's answers to the kind-specific questions (see TransformerBackbone) -----------
    def prompt_ids(self, expression: Expression, vocab: Vocabulary = VOCAB) -> list[int]:
        """The expression's tokens, nothing more."""
        return vocab.encode(expression.tokens())

    def readout_position(self, prompt_length: int) -> int:
        """Position 0, the operation token."""
        return 0

    def fits(self, expression: Expression, task: TaskConfig) -> bool:
        return len(expression.tokens()) <= self.config.max_len

    def output_labels(self, vocab: Vocabulary = VOCAB) -> list[int | str]:
        """Class c is the answer c."""
        return list(range(self.config.num_classes))

    def objective(self, logits: np.ndarray, batch: Batch,
                  label_smoothing: float = 0.0) -> tuple[float, np.ndarray, np.ndarray]:
        """Logits (B, C) against the answer class; a row is correct when its argmax is the answer."""
        loss, d = cross_entropy(logits, batch.targets, None, label_smoothing)
        return loss, d, logits.argmax(axis=-1) == batch.targets

    def batch_answers(self, batch: Batch, logits: np.ndarray, max_new_tokens: int,
                      vocab: Vocabulary = VOCAB) -> np.ndarray:
        """The most likely class of each row."""
        return logits.argmax(axis=-1)
