"""How spread each attention head's weights are where the answer is read: its mean entropy there.

For one query row with weights p over the keys, H = −Σ p log p (nats): log(T) when the head spreads over
all T keys evenly, 0 when it looks at exactly one. A head that *specialises* — finds the largest digit,
copies the first argument — shows as its entropy falling during training, often suddenly (a phase change
in attention); ``core.train.dynamics`` marks such drops.

Only the query positions the answer is computed at count: position 0 for an encoder (its head reads the
operation token's state), the "=" and the answer positions for a decoder (each predicts an answer token).
Averaged over every position instead, the heads' entropies hardly move: most rows are prompt positions
whose attention the answer never uses, and they stay spread (measured on the Sort preset: < 0.35 nats
over a whole run, so the change was invisible). Measured on the first ``SAMPLE`` validation rows at every
evaluation, and once before the first step, so a head that specialises within the first evaluation
interval is seen falling from where it started.
"""

from __future__ import annotations

import numpy as np

from core.data.batching import EncodedSplit, make_batch
from core.nn.models.factory import Model

SAMPLE = 64
PREFIX = "attn_entropy/"


def answer_queries(split: EncodedSplit, batch_width: int, n: int) -> np.ndarray:
    """(n, batch_width) bool: the query positions where row i's answer is read (see the module docstring)."""
    cols = np.arange(batch_width)[None, :]
    if split.mode == "decoder":
        prompt = split.prompt_lengths[:n, None]
        inputs = split.lengths[:n, None] - 1  # the decoder reads every token but the last
        return (cols >= prompt - 1) & (cols < inputs)
    return np.broadcast_to(cols == 0, (n, batch_width))


def attention_entropy(model: Model, split: EncodedSplit, sample: int = SAMPLE) -> dict[str, float]:
    """``{"attn_entropy/L.H": mean entropy in nats at the answer positions}`` for every layer L and head H."""
    n = min(sample, len(split))
    if n == 0:
        return {}
    batch = make_batch(split, np.arange(n))
    queries = answer_queries(split, batch.tokens.shape[1], n)
    with model.eval_mode():
        model.forward(batch.tokens, None if batch.pad_mask.all() else batch.pad_mask)
        maps = model.attention_maps()
    out: dict[str, float] = {}
    weight = queries.astype(np.float64)[:, None, :]  # (B, 1, T)
    for layer, weights in enumerate(maps):  # (B, H, T, T)
        p = np.asarray(weights, dtype=np.float64)
        ent = -(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=-1)  # (B, H, T)
        per_head = (ent * weight).sum(axis=(0, 2)) / weight.sum(axis=(0, 2))
        for head, value in enumerate(per_head.tolist()):
            out[f"{PREFIX}{layer}.{head}"] = float(value)
    return out
