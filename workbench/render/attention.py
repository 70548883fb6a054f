"""The attention map as text: the weights one layer and head put on each token, for one input.

One row per query position (the token doing the looking), one column per key (the token looked at),
each cell shaded by its weight and, where it is 3 wide, printing it in percent. ``head = -1`` shows
the mean over the heads. The row the model reads its answer from is marked with ▶. The caption names
the layer, the head and the sequence drawn (a decoder's: the one the chosen strategy generated); a
legend line under it says what rows, columns, ``**`` and blank cells mean. Column labels that do not
fit a cell are written top to bottom rather than cut.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from rich.text import Text

from workbench.render.grids import MAX_ROW_LABEL, bare_label, grid

EMPTY = "Answer an expression to see the attention it used."
#: What the grid's rows, columns and cells mean (flowed onto as many lines as the width needs).
LEGEND = ("row: the query token", "column: the key it attends to", "cell: its weight in %",
          "** = 100%", "blank = under 0.5%")
LEGEND_SHADE_ONLY = ("row: the query token", "column: the key it attends to",
                     "cells too narrow for numbers: dark = 0, light = 100%")
MAX_LABEL = MAX_ROW_LABEL  # row-label columns (longer tokens are cut)


@dataclass(eq=False)  # compared by identity: a new value is a new input (arrays have no plain ==)
class AttentionData:
    """The attention of one input: ``maps[l]`` is layer l's (heads, T, T) weights over ``tokens``."""

    maps: list[np.ndarray] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    read_row: int | None = None  # the row marked ▶ (where the answer is read), if any
    note: str = ""  # a line under the map saying what ▶ means
    sequence: str = ""  # which sequence the map is of, for the caption (e.g. "the beam search sequence")
    roles: dict[tuple[int, int], str] = field(default_factory=dict)  # (layer, head) → what it does (the Lab's)

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
    """The widest cells with which a row of ``tokens`` fits into ``width`` columns: wide enough for the
    longest token as a column label if that fits (so none is cut), else 3, 2 or 1 columns."""
    label = min(max([len(t) for t in tokens] + [1]), MAX_LABEL) + 2
    n = max(1, len(tokens))
    longest = max([len(bare_label(t)) for t in tokens] + [1])
    if longest > 3 and label + (longest + 1) * n <= width:
        return longest + 1
    return 3 if label + 3 * n <= width else (2 if label + 2 * n <= width else 1)


def flow(items: Sequence[str], width: int, sep: str = " · ") -> list[str]:
    """``items`` joined by ``sep`` onto as few lines of at most ``width`` columns as they fit (an item
    longer than a line gets a line of its own)."""
    lines: list[str] = []
    for item in items:
        if lines and len(lines[-1]) + len(sep) + len(item) <= width:
            lines[-1] += sep + item
        else:
            lines.append(item)
    return lines


def attention_text(data: AttentionData | None, layer: int, head: int, width: int = 80) -> Text:
    """The caption (layer, head, sequence), the legend, the shaded grid of ``layer``/``head`` fitted to
    ``width`` columns, and the note."""
    if data is None or not data.maps:
        return Text(EMPTY, style="dim")
    cw = cell_width(data.tokens, width)
    text = Text(no_wrap=True, overflow="crop")
    head_items = [caption(layer, data.n_layers, head, data.n_heads)] + ([data.sequence] if data.sequence else [])
    for i, line in enumerate(flow(head_items, width)):
        text.append(("\n" if i else "") + line, style="bold")
    role = data.roles.get((layer, head)) if head >= 0 else None
    if role:
        for line in _wrap(f"role (Lab, on held-out data): {role}", width):
            text.append("\n" + line, style="italic")
    for line in flow(LEGEND if cw >= 3 else LEGEND_SHADE_ONLY, width):
        text.append("\n" + line, style="dim")
    text.append("\n")
    text.append_text(grid(data.matrix(layer, head), data.tokens, data.tokens, cell_width=cw,
                          highlight_row=data.read_row, vertical_labels=True))
    for line in flow([data.note], width) if data.note else []:
        text.append(f"\n{line}", style="dim")
    return text


def _wrap(line: str, width: int) -> list[str]:
    return textwrap.wrap(line, max(20, width), subsequent_indent="  ") or [line]


def attention_height(data: AttentionData | None, width: int = 80, layer: int = 0, head: int = -1) -> int:
    """Lines ``attention_text`` takes at ``width``: caption, legend, header, one per token, the note."""
    if data is None or not data.maps:
        return 1
    return len(attention_text(data, layer, head, width).plain.split("\n"))
