"""The training objective for either model kind, from a ``Batch``.

The rule itself — what is scored and when a row counts as correct — belongs to the model
(``TransformerEncoder.objective`` / ``TransformerDecoder.objective``); this runs the forward and keeps
what a training step and an evaluation need together. In training mode the model computes only what the
loss reads (``forward_batch``: the encoder's position 0, the decoder's scored positions), with the same loss
and gradients as the full forward (tests/test_decoder_shortcut.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.data.batching import Batch
from core.nn.models.factory import Model


@dataclass
class LossResult:
    loss: float
    dlogits: np.ndarray
    logits: np.ndarray  # what ``forward_batch`` gave: (B, C), (B, T, V), or (N, V) for a training-mode decoder
    correct: np.ndarray  # (B,) bool


def forward_loss(model: Model, batch: Batch, label_smoothing: float = 0.0) -> LossResult:
    logits = model.forward_batch(batch)  # in training mode, only the positions the loss reads
    loss, dlogits, correct = model.objective(logits, batch, label_smoothing)
    return LossResult(loss, dlogits, logits, correct)
