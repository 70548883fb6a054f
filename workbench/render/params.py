"""Text of the inspector's Parameter and Digit-embedding sections: a tensor's statistics, a histogram of
its values, a heatmap of a matrix, and the cosine-similarity grid of the digit embeddings."""

from __future__ import annotations

import math

import numpy as np
from rich.text import Text

from core.probe.inspection import ParamView
from core.probe.param_stats import Histogram, SimilarityMatrix
from workbench.render.grids import column_histogram, grid, half_block_map

MATRIX_LINES = 12  # text lines of a weight heatmap (two matrix rows per line)
HISTOGRAM_LINES = 5


def shape_text(shape: tuple[int, ...]) -> str:
    """``(16, 32)`` → ``"16×32"``; ``()`` → ``"scalar"``."""
    return "×".join(str(s) for s in shape) or "scalar"


def num(v: float, fmt: str = ".4g") -> str:
    """``v`` formatted, ``"–"`` when it is not finite (e.g. no gradient)."""
    return "–" if not math.isfinite(v) else format(v, fmt)


def stats_text(view: ParamView) -> Text:
    """Name, shape and origin; mean, std, min, max; norms and update ratio; a warning for NaN/inf."""
    s = view.stats
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(view.name, style="bold")
    text.append(f"  shape {shape_text(s.shape)} ({s.size:,} values) · {view.origin}\n", style="dim")
    rows = [("mean", s.mean), ("std", s.std), ("min", s.min), ("max", s.max)]
    text.append("  ".join(f"{k} {num(v)}" for k, v in rows) + "\n")
    text.append(f"‖w‖ {num(s.norm)}  ‖∇w‖ {num(s.grad_norm)}  update/weight {num(s.update_ratio, '.2e')}")
    if not math.isfinite(s.grad_norm):
        text.append("\n(no gradient: not a live run)", style="dim")  # a line of its own: never cut off
    elif s.grad_norm == 0 and (not math.isfinite(s.update_ratio) or s.update_ratio == 0):
        # A live run before its first step, or just loaded from a checkpoint: the gradient buffers are
        # zero until a training step fills them.
        text.append("\n(no training step since the run was built or loaded:\n ‖∇w‖ and the update appear after the "
                    "next one)", style="dim")  # two short lines: a narrow column cuts neither
    if s.nonfinite or s.grad_nonfinite:
        text.append(f"\n⚠ {s.nonfinite} NaN/inf values, {s.grad_nonfinite} in the gradient (left out of the numbers)",
                    style="bold red")
    return text


def histogram_text(hist: Histogram, width: int) -> Text:
    """A caption with the counts, then vertical bars ``width`` columns wide (at least 8)."""
    text = Text(no_wrap=True, overflow="crop")
    text.append(f"histogram of the values ({hist.total:,} finite", style="dim")
    text.append(f", {hist.nonfinite} NaN/inf left out)\n" if hist.nonfinite else ")\n", style="dim")
    text.append_text(column_histogram(hist.counts, hist.edges, width=max(8, width), height=HISTOGRAM_LINES))
    return text


def matrix_text(values: np.ndarray, width: int, lines: int = MATRIX_LINES) -> Text:
    """A signed heatmap of ``values`` (more than 2-D: flattened after the first axis), downsampled to
    ``width`` × ``lines``, with a caption saying how it was drawn."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim > 2:
        arr = arr.reshape(arr.shape[0], -1)
    drawing, (rows, cols) = half_block_map(arr, max(4, width), lines)
    shape = arr.shape if arr.ndim == 2 else (1, arr.size)
    text = Text(no_wrap=True, overflow="crop")
    blocks = "" if (rows, cols) == tuple(shape) else (
        f", each cell the mean of ≈{math.ceil(shape[0] / rows)}×{math.ceil(shape[1] / cols)} values")
    text.append(f"heatmap {shape[0]}×{shape[1]} drawn as {rows}×{cols}{blocks}; ", style="dim")
    text.append("■", style="color(196)")
    text.append(" negative ", style="dim")
    text.append("■", style="color(21)")
    text.append(" positive\n", style="dim")
    text.append_text(drawing)
    return text


def embeddings_text(sim: SimilarityMatrix) -> Text:
    """The cosine-similarity grid of the digit embeddings, cells printed to one decimal."""
    text = Text(no_wrap=True, overflow="crop")
    text.append("cos(eᵢ, eⱼ) of the digit embeddings: 1 = same direction, 0 = orthogonal, −1 = opposite\n",
                style="dim")
    text.append_text(grid(sim.matrix, sim.labels, sim.labels, cell_width=4, lo=-1.0, hi=1.0, signed=True,
                          values="signed"))
    return text
