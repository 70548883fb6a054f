"""The training objective for either model kind, from a ``Batch``.

Encoder: logits (B, C) against the answer class.  Decoder: logits (B, T, V) against the next token,
weighted by ``loss_mask`` so only answer digits and [EOS] count.  A row is *correct* when every
scored prediction is the argmax — for the decoder that is exactly "greedy generation produces the
right answer", because with every prefix token right, teacher forcing and generation see the same input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.data.batching import Batch
from core.nn.loss import cross_entropy
from core.nn.models.decoder import TransformerDecoder
from core.nn.models.factory import Model


@dataclass
class LossResult:
    loss: float
    dlogits: np.ndarray
    logits: np.ndarray
    correct: np.ndarray  # (B,) bool


def forward_loss(model: Model, batch: Batch, label_smoothing: float = 0.0) -> LossResult:
    logits = model.forward(batch.tokens, batch.pad_mask)
    if isinstance(model, TransformerDecoder):
        b, t, v = logits.shape
        assert batch.loss_mask is not None, "decoder batches carry a loss mask"
        loss, d = cross_entropy(logits.reshape(b * t, v), batch.targets.reshape(-1),
                                batch.loss_mask.reshape(-1), label_smoothing)
        hit = logits.argmax(axis=-1) == batch.targets
        scored = batch.loss_mask > 0
        correct = np.all(hit | ~scored, axis=1)
        return LossResult(loss, d.reshape(b, t, v), logits, correct)
    loss, d = cross_entropy(logits, batch.targets, None, label_smoothing)
    return LossResult(loss, d, logits, logits.argmax(axis=-1) == batch.targets)
