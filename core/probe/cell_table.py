"""What a lesson's live cell computes: numeric tables with labels, a caption, and links to the workbench's views.

The result is plain data (no Textual), so any front end can draw it: the Learn pane as a table widget,
a terminal as text. ``Table.text`` lays a table out within a width (80 columns by default) by dropping
the columns that do not fit and saying how many were left out — a lesson must stay readable at 80×24.

Values are floats; ``nan`` is an empty cell and ``-inf`` a masked one (printed ``−∞``: what softmax turns
into exactly 0). Integer-valued tables (token ids, parameter counts) set ``digits=0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: The views an action may point at; the UI maps each to a pane (and a widget within it).
ACTION_VIEWS: tuple[str, ...] = ("inference", "attention", "logit_lens", "generation", "inspector",
                                 "embeddings", "gradient_check", "evaluation", "training", "dataset")

Action = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class Table:
    """``values[i, j]`` is row ``rows[i]``, column ``cols[j]``; printed with ``digits`` decimals."""

    name: str
    rows: list[str]
    cols: list[str]
    values: np.ndarray
    digits: int = 3

    def __post_init__(self) -> None:
        v = np.asarray(self.values, dtype=np.float64).reshape(len(self.rows), len(self.cols))
        object.__setattr__(self, "values", v)

    def cell(self, value: float) -> str:
        if math.isnan(value):
            return ""
        if math.isinf(value):
            return "−∞" if value < 0 else "∞"
        if self.digits == 0:
            return f"{value:,.0f}"
        if value != 0 and (abs(value) >= 1e5 or (self.digits >= 3 and abs(value) < 10 ** -self.digits)):
            return f"{value:.{max(1, self.digits - 1)}e}"
        return f"{value:.{self.digits}f}"

    def text(self, width: int = 80) -> str:
        """The table as aligned text no wider than ``width`` (columns that do not fit are left out)."""
        cells = [[self.cell(float(x)) for x in row] for row in self.values]
        label_w = max([len(r) for r in self.rows] + [0])
        widths = [max([len(c)] + [len(cells[i][j]) for i in range(len(self.rows))]) for j, c in enumerate(self.cols)]
        sep = "  " if label_w + sum(w + 2 for w in widths) <= width else " "
        shown, used = 0, label_w
        for w in widths:
            if used + len(sep) + w > width:
                break
            used += len(sep) + w
            shown += 1
        header = " " * label_w + "".join(sep + c.rjust(widths[j]) for j, c in enumerate(self.cols[:shown]))
        lines = [self.name, header.rstrip()]
        for i, r in enumerate(self.rows):
            lines.append((r.ljust(label_w) + "".join(sep + cells[i][j].rjust(widths[j])
                                                     for j in range(shown))).rstrip())
        if shown < len(self.cols):
            lines.append(f"(+{len(self.cols) - shown} more columns)")
        return "\n".join(line[:width] for line in lines)


@dataclass
class CellResult:
    """One live cell, computed: ``caption`` says how to read it; ``notes`` are single lines of numbers
    (e.g. "ln 10 = 2.303"); ``actions`` name the views it relates to, as (view, arguments), for buttons.
    ``applies`` is False when the cell does not apply to this model (the caption says why)."""

    kind: str
    title: str
    caption: str
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    applies: bool = True

    def text(self, width: int = 80) -> str:
        """Title, caption, notes and tables as plain text, each line at most ``width`` wide."""
        parts = [self.title, *_wrap(self.caption, width)]
        parts += [n[:width] for n in self.notes]
        for t in self.tables:
            parts += ["", t.text(width)]
        return "\n".join(parts)


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    line = ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(line)
    return lines


def not_applicable(kind: str, title: str, why: str) -> CellResult:
    """The result of a cell that does not apply to this model (an encoder asked to generate, …)."""
    return CellResult(kind, title, f"Not for this model: {why}", applies=False)
