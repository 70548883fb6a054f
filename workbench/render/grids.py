"""Text renderings of numbers for the probing panes: shaded grids, half-block maps, bars and histograms.

Everything here returns a ``rich.text.Text`` built from plain characters and *background* colours taken
from the xterm 256-colour palette (``color(n)``), so a heatmap reads the same in a true-colour terminal,
over SSH with 256 colours, and in a screenshot. Colours carry the shape; where a cell is wide enough the
number itself is printed too, so nothing depends on colour alone.

Non-finite values (NaN, ±inf) never reach a formula: they are drawn as a dim ``·`` cell, and the
scales are computed over the finite entries only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from rich.style import Style
from rich.text import Text

#: Sequential ramp for values in [0, 1] (attention weights, shares): near-black → blue → cyan → pale yellow.
SEQUENTIAL: tuple[int, ...] = (234, 17, 18, 19, 20, 26, 32, 38, 44, 80, 116, 152, 188, 229, 230)
#: Diverging ramp for signed values (weights, cosines): bright red ← dark grey → bright blue.
NEGATIVE: tuple[int, ...] = (52, 88, 124, 160, 196)
POSITIVE: tuple[int, ...] = (17, 18, 19, 20, 21)
NEUTRAL = 236
NONFINITE = Style(color="grey50", bgcolor="color(235)")
BLOCKS = " ▏▎▍▌▋▊▉█"
COLUMNS = " ▁▂▃▄▅▆▇█"
MAX_ROW_LABEL = 7  # columns of a grid's row labels (longer ones are cut)


def _fg_for(index: int) -> str:
    """Readable text colour on background ``color(index)``: dark text on the light end of the ramps."""
    return "black" if index in (80, 116, 152, 188, 229, 230) else "white"


def sequential_style(value: float, lo: float = 0.0, hi: float = 1.0) -> Style:
    """Background shade of ``value`` on [lo, hi] (clamped) from the sequential ramp."""
    if not math.isfinite(value):
        return NONFINITE
    span = hi - lo
    t = 0.0 if not (math.isfinite(span) and span > 0) else min(max((value - lo) / span, 0.0), 1.0)
    index = SEQUENTIAL[min(int(t * (len(SEQUENTIAL) - 1) + 0.5), len(SEQUENTIAL) - 1)]
    return Style(bgcolor=f"color({index})", color=_fg_for(index))


def diverging_index(value: float, scale: float) -> int | None:
    """Palette index of a signed ``value`` relative to ``scale`` (> 0): red below 0, blue above."""
    if not math.isfinite(value):
        return None
    if not (math.isfinite(scale) and scale > 0):
        return NEUTRAL
    t = min(abs(value) / scale, 1.0)
    level = int(t * len(POSITIVE) + 0.5)  # 0 = neutral, 1..5 = ramp
    if level == 0:
        return NEUTRAL
    return (POSITIVE if value > 0 else NEGATIVE)[level - 1]


def diverging_style(value: float, scale: float) -> Style:
    index = diverging_index(value, scale)
    return NONFINITE if index is None else Style(bgcolor=f"color({index})", color="white")


def finite_abs_max(values: np.ndarray) -> float:
    """max |v| over the finite entries (0.0 when there is none)."""
    arr = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(arr)
    return float(np.max(np.abs(arr[ok]), initial=0.0)) if ok.any() else 0.0


def bare_label(label: str) -> str:
    """A token as a column label: a special token without its brackets (``[EOS]`` → ``EOS``)."""
    return label.strip("[]") if label.startswith("[") and label.endswith("]") and len(label) > 2 else label


def short_label(label: str, width: int) -> str:
    """``label`` fitted into ``width`` cells: brackets dropped from special tokens, then truncated."""
    s = label.strip("[]") if label.startswith("[") and len(label) > width else label
    return s[:width].center(width)


def grid(matrix: np.ndarray, row_labels: Sequence[str], col_labels: Sequence[str], *, cell_width: int = 3,
         lo: float = 0.0, hi: float = 1.0, signed: bool = False, values: str = "percent",
         highlight_row: int | None = None, shade: np.ndarray | None = None, vertical_labels: bool = False) -> Text:
    """A labelled grid of shaded cells: one text line per row, ``cell_width`` characters per column.

    ``values``: what each cell prints when it is at least 3 wide — ``"percent"`` (0.42 → `42`, blank
    below 0.5%), ``"signed"`` (cosines: 0.42 → `.4`, −0.8 → `-.8`), ``"count"`` (integers, abbreviated
    above 999), or ``"none"``. ``signed`` picks the diverging ramp (scaled by max(|lo|, |hi|)).
    ``highlight_row`` marks one row label with ▶ (e.g. the position whose output the model reads).
    ``shade`` (same shape) colours the cells instead of ``matrix`` (e.g. counts shaded by row share).
    ``vertical_labels``: column labels longer than a cell are written top to bottom instead of cut.
    """
    m = np.asarray(matrix, dtype=np.float64)
    colours = m if shade is None else np.asarray(shade, dtype=np.float64)
    rows, cols = (m.shape if m.ndim == 2 else (0, 0))
    label_width = max([len(s) for s in row_labels] + [1])
    label_width = min(label_width, MAX_ROW_LABEL)
    cw = max(1, int(cell_width))
    text = Text(no_wrap=True, overflow="crop")
    names = [str(col_labels[j]) if j < len(col_labels) else "" for j in range(cols)]
    stacked = [bare_label(n) for n in names]
    if vertical_labels and any(len(n) > cw for n in stacked):
        # Column labels too long for the cells: written top to bottom, one character per line, so no
        # token is cut ("First" stays "First", not "Fir"); the labels end on the line above the grid.
        depth = max(len(n) for n in stacked)
        for line in range(depth):
            if line:
                text.append("\n")
            text.append(" " * (label_width + 2))
            for n in stacked:
                k = line - (depth - len(n))
                text.append((n[k] if k >= 0 else "").center(cw), style="bold")
    else:
        text.append(" " * (label_width + 2))
        for n in names:
            text.append(short_label(n, cw), style="bold")
    scale = max(abs(lo), abs(hi))
    for i in range(rows):
        text.append("\n")
        marker = "▶" if highlight_row == i else " "
        label = str(row_labels[i]) if i < len(row_labels) else ""
        text.append(f"{label[:label_width]:>{label_width}}{marker} ", style="bold" if highlight_row == i else "")
        for j in range(cols):
            v, c = float(m[i, j]), float(colours[i, j])
            style = diverging_style(c, scale) if signed else sequential_style(c, lo, hi)
            text.append(_cell_text(v, cw, values), style=style)
    return text


def _cell_text(v: float, width: int, values: str) -> str:
    if not math.isfinite(v):
        return "·".center(width)
    if width < 3 or values == "none":
        return " " * width
    if values == "percent":
        p = round(v * 100)
        s = "" if p <= 0 and v < 0.005 else ("**" if p >= 100 else f"{p}")
    elif values == "signed":
        r = round(v, 1)
        s = "0" if r == 0 else ("1" if r == 1 else ("-1" if r == -1 else f"{r:.1f}".replace("0.", ".")))
    elif values == "count":
        n = int(v)
        s = "" if n == 0 else (f"{n}" if n < 1000 else f"{n // 1000}k")
    else:
        s = ""
    return s[: width - 1].rjust(width - 1) + " "


def downsample(matrix: np.ndarray, max_rows: int, max_cols: int) -> np.ndarray:
    """Block means that shrink a 2-D array to at most (max_rows, max_cols), ignoring non-finite entries
    (a block with none finite stays NaN)."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim == 1:
        m = m[None, :]
    rows, cols = m.shape
    out_r, out_c = max(1, min(rows, max_rows)), max(1, min(cols, max_cols))
    if (out_r, out_c) == (rows, cols):
        return m.copy()
    r_edges = np.linspace(0, rows, out_r + 1).astype(int)
    c_edges = np.linspace(0, cols, out_c + 1).astype(int)
    out = np.full((out_r, out_c), np.nan)
    finite = np.isfinite(m)
    clean = np.where(finite, m, 0.0)
    for a in range(out_r):
        for b in range(out_c):
            r0, r1, c0, c1 = r_edges[a], max(r_edges[a + 1], r_edges[a] + 1), c_edges[b], max(c_edges[b + 1],
                                                                                          c_edges[b] + 1)
            n = int(finite[r0:r1, c0:c1].sum())
            if n:
                out[a, b] = float(clean[r0:r1, c0:c1].sum()) / n
    return out


def half_block_map(matrix: np.ndarray, max_cols: int, max_lines: int) -> tuple[Text, tuple[int, int]]:
    """A signed matrix drawn with ``▀`` half blocks (two rows per text line: top row in the foreground
    colour, bottom row in the background), downsampled to fit ``max_cols`` × ``max_lines``; colours
    from the diverging ramp scaled by max |value|. Returns the text and the drawn (rows, cols)."""
    m = downsample(matrix, max(1, 2 * max_lines), max(1, max_cols))
    scale = finite_abs_max(m)
    rows, cols = m.shape
    text = Text(no_wrap=True, overflow="crop")
    for top in range(0, rows, 2):
        if top:
            text.append("\n")
        for j in range(cols):
            a = diverging_index(float(m[top, j]), scale)
            b = diverging_index(float(m[top + 1, j]), scale) if top + 1 < rows else None
            fg = f"color({a})" if a is not None else "grey50"
            bg = f"color({b})" if b is not None else ("default" if top + 1 >= rows else "color(235)")
            text.append("▀", style=Style(color=fg, bgcolor=bg))
    return text, (rows, cols)


def hbar(fraction: float, width: int) -> str:
    """A horizontal bar of ``fraction`` (0–1) of ``width`` cells, in eighths of a cell."""
    if not math.isfinite(fraction):
        fraction = 0.0
    eighths = round(min(max(fraction, 0.0), 1.0) * width * 8)
    bar = "█" * (eighths // 8) + (BLOCKS[eighths % 8] if eighths % 8 else "")
    return f"{bar:<{width}}"


def column_histogram(counts: Sequence[int] | np.ndarray, edges: Sequence[float] | np.ndarray, width: int,
                     height: int = 6) -> Text:
    """Vertical bars (``▁…█``) of ``counts``, regrouped into at most ``width`` columns, ``height`` lines
    high, with the value range underneath."""
    c = np.asarray(counts, dtype=np.int64)
    width = max(4, int(width))
    if c.size > width:
        groups = np.array_split(np.arange(c.size), width)
        c = np.asarray([int(c[g].sum()) for g in groups], dtype=np.int64)
    peak = int(c.max(initial=0)) or 1
    levels = [round(int(n) / peak * height * 8) for n in c]
    text = Text(no_wrap=True, overflow="crop")
    for line in range(height, 0, -1):
        if line != height:
            text.append("\n")
        base = (line - 1) * 8
        row = "".join("█" if lv >= base + 8 else (COLUMNS[lv - base] if lv > base else " ") for lv in levels)
        text.append(row, style="cyan")
    lo, hi = (float(edges[0]), float(edges[-1])) if len(edges) else (0.0, 1.0)
    left, right = f"{lo:.3g}", f"{hi:.3g}"
    axis = left + right.rjust(max(1, len(levels) - len(left)))
    text.append("\n" + axis, style="dim")
    return text
