"""How spread each attention head's weights are: its mean entropy on a few held-out inputs.

For one query row with weights p over the keys, H = −Σ p log p (nats): log(T) when the head spreads over
all T keys evenly, 0 when it looks at exactly one. A head that *specialises* — finds the largest digit,
copies the first argument — shows as its entropy falling during training, often suddenly (a phase change
in attention); ``core.train.dynamics`` marks such drops. Measured at every evaluation on the first
``SAMPLE`` validation rows, over their real query positions (padding excluded).
"""

from __future__ import annotations

import numpy as np

from core.data.batching import EncodedSplit
from core.nn.models.factory import Model

SAMPLE = 64
PREFIX = "attn_entropy/"


def attention_entropy(model: Model, split: EncodedSplit, sample: int = SAMPLE) -> dict[str, float]:
    """``{"attn_entropy/L.H": mean entropy in nats}`` for every layer L and head H."""
    n = min(sample, len(split))
    if n == 0:
        return {}
    lengths = split.lengths[:n]
    width = int(lengths.max())
    tokens = split.tokens[:n, :width]
    mask = np.arange(width)[None, :] < lengths[:, None]
    with model.eval_mode():
        model.forward(tokens, None if mask.all() else mask)
        maps = model.attention_maps()
    out: dict[str, float] = {}
    for layer, weights in enumerate(maps):  # (B, H, T, T)
        p = np.asarray(weights, dtype=np.float64)
        ent = -(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=-1)  # (B, H, T)
        real = mask[:, None, :].repeat(p.shape[1], axis=1)
        per_head = (ent * real).sum(axis=(0, 2)) / real.sum(axis=(0, 2))
        for head, value in enumerate(per_head.tolist()):
            out[f"{PREFIX}{layer}.{head}"] = float(value)
    return out
