"""Summary numbers for one parameter tensor, a histogram of its values, and digit-embedding similarity.

What the inspector shows for a weight matrix, and why each number matters:

- mean, std, min, max of the values w: a std drifting towards 0 or exploding is the first sign of a
  dead or diverging layer;
- ‖w‖₂ = √Σ w² and ‖∇w‖₂ = √Σ (∂L/∂w)²: how large the tensor is and how hard the loss pulls on it;
- the update-to-weight ratio ‖Δw‖ / ‖w‖ of the last step (``ParameterSnapshot.last_update_ratio``):
  around 1e-3 is healthy for Adam; much lower means the layer has stopped learning, much higher that
  the learning rate is too large for it.

Every statistic is computed over the *finite* entries only, in float64, and the NaN/±inf entries are
counted separately (``nonfinite``, ``grad_nonfinite``), so a diverged tensor still gets a readable
summary and the count says why it is suspicious. An empty tensor gives NaN statistics and zero norms.

``embedding_similarity`` compares the learned vectors of the digit tokens "0".."9": the cosine
cos(eᵢ, eⱼ) = eᵢ·eⱼ / (‖eᵢ‖ ‖eⱼ‖) is 1 for vectors pointing the same way, 0 for orthogonal ones.
A model that has learned order often puts neighbouring digits closer than distant ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from core.data.vocab import DIGIT_TOKENS, VOCAB
from core.nn.models.factory import Model


@dataclass(frozen=True)
class ParamStats:
    """Statistics of one tensor (see the module docstring); NaN where undefined (no finite entry)."""

    shape: tuple[int, ...]
    size: int
    mean: float
    std: float
    min: float
    max: float
    norm: float  # ‖w‖₂ over the finite entries
    grad_norm: float  # ‖∇w‖₂ over the finite entries; NaN when no gradient was given
    update_ratio: float  # ‖Δw‖ / ‖w‖ of the last step, as given (NaN = unknown)
    nonfinite: int  # NaN/±inf entries in the values
    grad_nonfinite: int  # NaN/±inf entries in the gradient

    @property
    def healthy(self) -> bool:
        """No non-finite value or gradient entry."""
        return self.nonfinite == 0 and self.grad_nonfinite == 0


def _finite(values: np.ndarray) -> tuple[np.ndarray, int]:
    flat = np.asarray(values, dtype=np.float64).reshape(-1)
    ok = np.isfinite(flat)
    n_bad = int(flat.size - np.count_nonzero(ok))
    return (flat if n_bad == 0 else flat[ok]), n_bad


def _norm(x: np.ndarray) -> float:
    # Scaled by the largest entry first: √Σ(x/m)²·m stays finite where Σx² would overflow float64.
    m = float(np.max(np.abs(x), initial=0.0))
    return 0.0 if m == 0.0 else m * float(np.sqrt(np.sum(np.square(x / m))))


def parameter_stats(value: np.ndarray, grad: np.ndarray | None = None,
                    update_ratio: float | None = None) -> ParamStats:
    """Statistics of a tensor's values, its gradient (optional) and its last update ratio (optional)."""
    arr = np.asarray(value)
    w, bad = _finite(arr)
    if w.size:
        # In units of m = max|w| so that values near the float64 limit cannot overflow the sums.
        m = float(np.max(np.abs(w))) or 1.0
        u = w / m
        mu = float(np.mean(u))
        mean, std = mu * m, float(np.sqrt(np.mean(np.square(u - mu)))) * m
        lo, hi = float(np.min(w)), float(np.max(w))
    else:
        mean = std = lo = hi = math.nan
    if grad is not None:
        g, g_bad = _finite(grad)
        grad_norm = _norm(g)
    else:
        g_bad, grad_norm = 0, math.nan
    ratio = math.nan if update_ratio is None else float(update_ratio)
    return ParamStats(tuple(int(s) for s in arr.shape), int(arr.size), mean, std, lo, hi, _norm(w), grad_norm, ratio,
                      bad, g_bad)


class _Snapshot(Protocol):
    """What ``snapshot_stats`` reads (read-only, so a frozen ``ParameterSnapshot`` fits)."""

    @property
    def value(self) -> np.ndarray: ...
    @property
    def grad(self) -> np.ndarray: ...
    @property
    def last_update_ratio(self) -> float: ...


def snapshot_stats(snapshot: _Snapshot) -> ParamStats:
    """``parameter_stats`` of a ``core.train.session.ParameterSnapshot``."""
    return parameter_stats(snapshot.value, snapshot.grad, snapshot.last_update_ratio)


@dataclass(frozen=True)
class Histogram:
    """``counts[i]`` finite values fall in [edges[i], edges[i+1]) (the last bin is closed);
    ``nonfinite`` values (NaN, ±inf) were left out."""

    counts: np.ndarray  # (bins,) int64
    edges: np.ndarray  # (bins + 1,) float64, increasing
    nonfinite: int

    @property
    def total(self) -> int:
        """Finite values counted."""
        return int(self.counts.sum())


def histogram(values: np.ndarray, bins: int = 20) -> Histogram:
    """Histogram of the finite entries of ``values`` over their own range, in ``bins`` equal bins.

    No finite entry: all-zero counts over [0, 1]. All entries equal to v (or spread too narrowly for
    float64 to space the edges): the range [v − ½, v + ½], as ``np.histogram`` does, so the spike sits
    mid-axis. Edges are lo·(1 − t) + hi·t for t = 0, 1/bins, …, 1, which stays finite even when hi − lo
    overflows (values near ±1e308).
    """
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    finite, bad = _finite(values)
    if finite.size == 0:
        lo, hi = 0.0, 1.0
    else:
        lo, hi = float(finite.min()), float(finite.max())
    edges = _edges(lo, hi, int(bins))
    if not np.all(np.diff(edges) > 0):
        # All equal, or a range too narrow for float64 to space the edges: centre a unit range on it.
        mid = lo + (hi - lo) / 2.0
        edges = _edges(mid - 0.5, mid + 0.5, int(bins))
    counts, _ = np.histogram(finite, bins=edges)
    return Histogram(counts.astype(np.int64), edges, bad)


def _edges(lo: float, hi: float, bins: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, bins + 1)
    edges = lo * (1.0 - t) + hi * t
    edges[0], edges[-1] = lo, hi
    return edges


@dataclass(frozen=True)
class SimilarityMatrix:
    """``matrix[i, j]`` = cos(eᵢ, eⱼ) of the embeddings of ``labels[i]`` and ``labels[j]``."""

    matrix: np.ndarray  # (n, n) float64, symmetric, in [−1, 1]
    labels: list[str]


def cosine_similarity(vectors: np.ndarray) -> np.ndarray:
    """Pairwise cosines of the rows of ``vectors`` (n, d): (V/‖V‖)(V/‖V‖)ᵀ.

    A zero or non-finite row has no direction, so its row and column are NaN (a blank in the UI) rather
    than a misleading 0. Rounding can push |cos| a hair above 1; it is clipped to [−1, 1].
    """
    v = np.asarray(vectors, dtype=np.float64)
    norms = np.sqrt(np.sum(np.square(v), axis=1))
    ok = np.isfinite(norms) & (norms > 0)
    unit = np.where(ok[:, None], v / np.where(ok, norms, 1.0)[:, None], np.nan)
    sim = np.clip(unit @ unit.T, -1.0, 1.0)
    np.fill_diagonal(sim, np.where(ok, 1.0, np.nan))
    return sim


def embedding_similarity(model: Model, tokens: Sequence[str] = DIGIT_TOKENS) -> SimilarityMatrix:
    """Cosine similarity of the token embeddings (rows of ``embed.weight``) of ``tokens``; by default
    the ten digits, giving a 10×10 matrix labelled "0".."9"."""
    table = model.params["embed.weight"].value
    rows = [VOCAB.id_of(t) for t in tokens]
    return SimilarityMatrix(cosine_similarity(table[rows]), list(tokens))
