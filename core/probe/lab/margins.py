"""The answer's logit margin: how far the right answer's logit is above the best wrong one.

    margin = z[answer] − max_{c ≠ answer} z[c]        (> 0 exactly when the model answers right)

Accuracy only says whether the margin is positive; a head that a well-trained model uses redundantly can
be switched off without changing one answer, yet cut the margin by a fifth. The Lab reports both. For the
decoder the margin of a row is its smallest over the answer's tokens, teacher-forced (the token whose
margin falls below 0 first is where the answer goes wrong).
"""

from __future__ import annotations

import numpy as np

from core.data.batching import EncodedSplit, make_batch
from core.nn.models.factory import Model


def margins_of(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """z[target] − max of the others, for logits (…, C) and targets (…)."""
    z = logits.astype(np.float64)
    right = np.take_along_axis(z, targets[..., None], axis=-1)[..., 0]
    np.put_along_axis(z, targets[..., None], -np.inf, axis=-1)
    return right - z.max(axis=-1)


def answer_margins(model: Model, split: EncodedSplit, batch_size: int = 256) -> np.ndarray:
    """Each row's answer margin (N,), in evaluation mode."""
    out = np.empty(len(split))
    with model.eval_mode():
        for start in range(0, len(split), batch_size):
            idx = np.arange(start, min(len(split), start + batch_size))
            batch = make_batch(split, idx)
            logits = model.forward_batch(batch)
            m = margins_of(logits, batch.targets)
            if batch.loss_mask is not None:  # decoder: the smallest over the scored positions
                m = np.where(batch.loss_mask > 0, m, np.inf).min(axis=1)
            out[idx] = m
    return out
