"""Accuracy by slice: the split cut along one property of the expressions at a time.

Overall accuracy hides where a model is weak: 99.5% can mean every Max over small numbers is wrong.
Each *slicing* (operation, argument count, answer value, position of the answer, digit-count pattern,
ties, nesting depth) partitions the split, so its slices' counts add up to the split's size and their
count-weighted accuracies to the overall accuracy (tested). Features are computed once per distinct
expression (a training split is mostly repeats) and grouped with ``np.unique``/``np.bincount``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.data.expression import Expression
from core.data.features import answer_position, digit_pattern, has_tie

#: (key used in JSON, title shown to people), in the order reports list them
SLICINGS: tuple[tuple[str, str], ...] = (
    ("operation", "operation"),
    ("n_args", "arguments"),
    ("answer", "answer value"),
    ("answer_position", "answer position"),
    ("digit_pattern", "digit pattern"),
    ("tie", "ties"),
    ("depth", "nesting depth"),
)
TITLES: dict[str, str] = dict(SLICINGS)

#: slices with fewer examples than this are too noisy to call "the weakest"
MIN_SLICE_COUNT = 5

TIE, NO_TIE = "tie", "no tie"


@dataclass(frozen=True)
class Slice:
    """The examples of a split sharing one value of one slicing (``name``), and how many were right."""

    name: str  # the slicing's key, e.g. "answer"
    value_label: str  # e.g. "7", "Max", "1-2-1", "tie"
    n: int
    correct: int
    accuracy: float

    @property
    def title(self) -> str:
        """How a person reads it: ``answer value: 7``."""
        return f"{TITLES.get(self.name, self.name)}: {self.value_label}"


#: the "answer value" of an expression whose answer is a list (Sort): they share one slice
LIST_ANSWER = "list"


def _features(expr: Expression, max_value: int) -> tuple[str, int, int | str, int, str, str, int]:
    tie = TIE if has_tie(expr) else NO_TIE
    answer = expr.answer()
    return (expr.op, expr.n_args, answer if isinstance(answer, int) else LIST_ANSWER, answer_position(expr),
            digit_pattern(expr, max_value), tie, expr.depth)


def _pattern_key(label: str) -> tuple[int, tuple[int, ...]]:
    """Patterns by argument count, then digits ascending ("e" after the numbers)."""
    parts = label.split("-")
    return len(parts), tuple(int(p) if p.isdigit() else 99 for p in parts)


def compute_slices(expressions: Sequence[Expression], correct: np.ndarray, operations: Sequence[str] = (),
                   max_value: int = 99) -> dict[str, list[Slice]]:
    """Every slicing of ``SLICINGS`` → its slices in natural order (operations in ``operations``' order,
    numbers ascending, "no tie" before "tie"). ``correct[i]`` says whether example ``i`` was answered right."""
    correct = np.asarray(correct, dtype=bool)
    if len(expressions) != correct.shape[0]:
        raise ValueError(f"{len(expressions)} expressions but {correct.shape[0]} correctness flags")
    if not len(expressions):
        return {key: [] for key, _ in SLICINGS}
    row_of: dict[Expression, int] = {}
    feats: list[tuple[str, int, int | str, int, str, str, int]] = []
    inverse = np.empty(len(expressions), dtype=np.int64)
    for i, expr in enumerate(expressions):
        u = row_of.get(expr)
        if u is None:
            u = row_of[expr] = len(feats)
            feats.append(_features(expr, max_value))
        inverse[i] = u
    op_order = {op: i for i, op in enumerate(operations)}
    sort_keys: dict[str, Callable[[str], Any]] = {
        "operation": lambda v: (op_order.get(v, len(op_order)), v),
        "digit_pattern": _pattern_key,
        "tie": lambda v: v == TIE,
        "answer": lambda v: (v == LIST_ANSWER, int(v) if v != LIST_ANSWER else 0),
    }
    out: dict[str, list[Slice]] = {}
    for column, (key, _) in enumerate(SLICINGS):
        labels_u = [str(f[column]) for f in feats]
        distinct = sorted(set(labels_u), key=sort_keys.get(key, int))
        code_of = {label: c for c, label in enumerate(distinct)}
        codes = np.fromiter((code_of[label] for label in labels_u), dtype=np.int64, count=len(labels_u))[inverse]
        n = np.bincount(codes, minlength=len(distinct))
        right = np.bincount(codes, weights=correct.astype(np.float64), minlength=len(distinct)).astype(np.int64)
        out[key] = [Slice(key, label, int(n[c]), int(right[c]), float(right[c] / n[c]))
                    for c, label in enumerate(distinct)]
    return out


def _candidates(slices: dict[str, list[Slice]], min_n: int) -> list[Slice]:
    """Slices with at least ``min_n`` examples, leaving out slicings that did not cut the split (their
    one slice is the whole split, which tells nothing the overall accuracy does not)."""
    return [s for group in slices.values() if len(group) > 1 for s in group if s.n >= min_n]


def worst_slices(slices: dict[str, list[Slice]], k: int = 3, min_n: int = MIN_SLICE_COUNT) -> list[Slice]:
    """The ``k`` least accurate slices across slicings (ties: the larger slice first), ignoring slices
    smaller than ``min_n``."""
    return sorted(_candidates(slices, min_n), key=lambda s: (s.accuracy, -s.n))[:k]


def min_slice_accuracy(slices: dict[str, list[Slice]], min_n: int = MIN_SLICE_COUNT) -> float | None:
    """The lowest accuracy of any slice of at least ``min_n`` examples, or None if there is none."""
    worst = worst_slices(slices, 1, min_n)
    return worst[0].accuracy if worst else None


def slices_to_dict(slices: dict[str, list[Slice]]) -> dict[str, list[dict[str, object]]]:
    """The JSON form: ``{slicing: [{"value", "n", "accuracy"}, …]}``."""
    return {key: [{"value": s.value_label, "n": s.n, "accuracy": s.accuracy} for s in group]
            for key, group in slices.items()}


def slicing_line(key: str, group: Sequence[Slice], width: int = 80, min_n: int = MIN_SLICE_COUNT) -> str:
    """One line of at most ``width`` characters for a slicing: every slice if they fit, else how many
    slices, the accuracy range and the lowest few (the CLI's "by slice" section)."""
    head = f"  {TITLES.get(key, key)}: "
    full = head + "  ".join(f"{s.value_label} {s.accuracy:.1%}" for s in group)
    if len(full) <= width:
        return full
    accs = [s.accuracy for s in group]
    line = f"{head}{len(group)} slices, {min(accs):.1%}–{max(accs):.1%}"
    pool = [s for s in group if s.n >= min_n and s.accuracy < max(accs)] or list(group)
    lowest = sorted(pool, key=lambda s: (s.accuracy, -s.n))
    for i, s in enumerate(lowest):
        part = f"{'; lowest ' if i == 0 else ', '}{s.accuracy:.1%} at {s.value_label} (n={s.n})"
        if len(line) + len(part) > width:
            break
        line += part
    return line[:width]
