"""The attention map as text: the weights one layer and head put on each token, for one input.

One row per query position (the token doing the looking), one column per key (the token looked at),
each cell shaded by its weight and, where it is 3 wide, printing it in percent. ``head = -1`` shows
the mean over the heads. The row the model reads its answer from is marked with ▶.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from rich.text import Text

from workbench.render.grids import grid

EMPTY = "Answer an expression to see the attention it used."
LEGEND = "  (row: query token · column: key it attends to · %)"
MAX_LABEL = 7  # row-label columns (longer tokens are cut)


@dataclass(eq=False)  # compared by identity: a new value is a new input (arrays have no plain ==)
class AttentionData:
    """The attention of one input: ``maps[l]`` is layer l's (heads, T, T) weights over ``tokens``."""

    maps: list[np.ndarray] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    read_row: int | None = None  # the row marked ▶ (where the answer is read), if any
    note: str = ""  # a line under the map saying what ▶ means

    def __post_init__(self) -> None:
        self.maps = [np.asarray(m, dtype=np.float64) for m in self.maps]
        self.tokens = list(self.tokens)

    @property
    def n_layers(self) -> int:
        return len(self.maps)

    @property
    def n_heads(self) -> int:
        return int(self.maps[0].shape[0]) if self.maps else 0

    def matrix(self, layer: int, head: int) -> np.ndarray:
        """The (T, T) weights of ``layer`` and ``head`` (−1: the mean of the heads)."""
        if not self.maps:
            return np.zeros((0, 0))
        m = self.maps[layer]
        return m.mean(axis=0) if head < 0 else m[head]


def caption(layer: int, n_layers: int, head: int, n_heads: int) -> str:
    """``"layer 1 (0–1) · head 2 (0–3)"``, or ``"… · mean of heads"`` for head −1. Layers and heads count
    from 0, as in the parameter names (``blocks.1.attn``) and everywhere else in the workbench."""
    which = "mean of heads" if head < 0 else f"head {head} {_span(n_heads)}"
    return f"layer {layer} {_span(n_layers)} · {which}"


def _span(n: int) -> str:
    return "(0)" if n <= 1 else f"(0–{n - 1})"


def cell_width(tokens: Sequence[str], width: int) -> int:
    """The widest cells (3, 2 or 1 columns) with which a row of ``tokens`` fits into ``width`` columns."""
    label = min(max([len(t) for t in tokens] + [1]), MAX_LABEL) + 2
    n = max(1, len(tokens))
    return 3 if label + 3 * n <= width else (2 if label + 2 * n <= width else 1)


def attention_text(data: AttentionData | None, layer: int, head: int, width: int = 80) -> Text:
    """The caption, the shaded grid of ``layer``/``head`` fitted to ``width`` columns, and the note."""
    if data is None or not data.maps:
        return Text(EMPTY, style="dim")
    text = Text(no_wrap=True, overflow="crop")
    text.append(caption(layer, data.n_layers, head, data.n_heads), style="bold")
    text.append(LEGEND + "\n", style="dim")
    text.append_text(grid(data.matrix(layer, head), data.tokens, data.tokens, cell_width=cell_width(data.tokens, width),
                          highlight_row=data.read_row))
    if data.note:
        text.append(f"\n{data.note}", style="dim")
    return text


def attention_height(data: AttentionData | None) -> int:
    """Lines ``attention_text`` takes: caption, header, one per token, and the note."""
    if data is None or not data.maps:
        return 1
    return 2 + len(data.tokens) + (1 if data.note else 0)
