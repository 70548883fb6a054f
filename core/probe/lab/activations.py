"""Putting hooks into a model and reading activations out of it.

    with hooked(model, {(layer, point): hook, …}):   hooks in place for the block, the previous ones back after
    record(model, tokens, points)                    each point's activation (B, T, W) on one batch
    mean_activations(model, split, points)           each point's mean per position over a split (mean ablation)

A hook added where one already is (an ablation that stays on while the Lab looks) is chained after it, so a
recorder sees what the rest of the model sees. Everything runs in evaluation mode, on the full path (every
position computed), and restores the model's mode and hooks, whatever happens.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

import numpy as np

from core.data.batching import EncodedSplit, make_batch
from core.nn.layers.hooks import HOOK_POINTS, Chain, Hook, Recorder
from core.nn.models.factory import Model

Point = tuple[int, str]  # (layer, hook point name)


def check_points(model: Model, points: Iterable[Point]) -> None:
    for layer, name in points:
        if not 0 <= layer < len(model.blocks):
            raise ValueError(f"no layer {layer}: the model has {len(model.blocks)}")
        if name not in HOOK_POINTS:
            raise ValueError(f"unknown hook point {name!r}; the points are {', '.join(HOOK_POINTS)}")


@contextmanager
def hooked(model: Model, hooks: Mapping[Point, Hook]) -> Iterator[None]:
    """Install ``hooks`` for the duration of the block (after any already there), then restore exactly the
    hooks each block had before."""
    check_points(model, hooks)
    saved = [dict(block.hooks) for block in model.blocks]
    try:
        for (layer, name), hook in hooks.items():
            current = model.blocks[layer].hooks
            current[name] = Chain((current[name], hook)) if name in current else hook
        yield
    finally:
        for block, before in zip(model.blocks, saved, strict=True):
            block.hooks = before


def pad_mask_of(tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray | None:
    """True at real tokens (None when no row is padded)."""
    mask = np.arange(tokens.shape[1])[None, :] < lengths[:, None]
    return None if mask.all() else mask


def forward_all(model: Model, tokens: np.ndarray, pad_mask: np.ndarray | None = None) -> np.ndarray:
    """The model's logits at every position it computes in evaluation mode: the encoder's (B, C) at position 0,
    the decoder's (B, T, V)."""
    with model.eval_mode():
        return model.forward(tokens, pad_mask)


def record(model: Model, tokens: np.ndarray, points: Iterable[Point],
           pad_mask: np.ndarray | None = None) -> tuple[dict[Point, np.ndarray], np.ndarray]:
    """Each point's activation (B, T, W) on ``tokens`` (B, T), and the logits of the same forward."""
    recorders = {p: Recorder() for p in dict.fromkeys(points)}
    batch, time = tokens.shape
    with hooked(model, recorders):
        logits = forward_all(model, tokens, pad_mask)
    return {p: r.grid(batch, time) for p, r in recorders.items()}, logits


def mean_activations(model: Model, split: EncodedSplit, points: Iterable[Point], batch_size: int = 256,
                     max_examples: int = 4_000) -> dict[Point, np.ndarray]:
    """Each point's mean activation at each position, (1, max_len, W), over the real tokens of (the first
    ``max_examples`` rows of) ``split``: what mean ablation puts in place of a component. A position no row
    reaches gets the mean over all positions."""
    points = list(dict.fromkeys(points))
    max_len = model.config.max_len
    sums: dict[Point, np.ndarray] = {}
    counts = np.zeros(max_len)
    n = min(len(split), max_examples)
    for start in range(0, n, batch_size):
        batch = make_batch(split, np.arange(start, min(n, start + batch_size)))
        acts, _ = record(model, batch.tokens, points, batch.pad_mask)
        time = batch.tokens.shape[1]
        real = batch.pad_mask.astype(np.float64)  # (B, T): the model's real input tokens
        counts[:time] += real.sum(axis=0)
        for p, a in acts.items():
            total = sums.setdefault(p, np.zeros((max_len, a.shape[2])))
            total[:time] += np.einsum("bt,btw->tw", real, a)
    seen = counts > 0
    out: dict[Point, np.ndarray] = {}
    for p, total in sums.items():
        overall = total[seen].sum(axis=0) / counts[seen].sum()
        mean = np.where(seen[:, None], total / np.maximum(counts, 1)[:, None], overall)
        out[p] = mean[None].astype(model.dtype)
    return out


def set_hooks(model: Model, hooks: Mapping[Point, Hook]) -> None:
    """Replace every block's hooks by ``hooks`` (an ablation that stays on while the model trains); an empty
    mapping removes them all, after which the model computes exactly what it did before any hook."""
    check_points(model, hooks)
    for block in model.blocks:
        block.hooks = {}
    for (layer, name), hook in hooks.items():
        model.blocks[layer].hooks[name] = hook
