"""Drawing random expressions of a task in bulk, and counting how many distinct ones exist.

Generating a million training examples one ``rng`` call at a time would take minutes, so expressions
are drawn a chunk at a time with NumPy (argument counts, numbers, nesting decisions) and only turned
into Python objects at the end. A drawn expression is first a *key* — a plain tuple
``(op_index, arg, arg, ...)`` whose args are ints or nested keys — which is cheap to hash, so the
dataset generator can deduplicate and keep splits disjoint before building any ``Expression``.
"""

from __future__ import annotations

import itertools
from typing import TypeAlias

import numpy as np

from core.data.expression import Expression, modulus_of
from core.data.task import TaskConfig

ExprKey: TypeAlias = tuple  # (op_index, *args); each arg an int or a nested ExprKey

NEST_PROBABILITY = 0.3  # chance that an argument is itself an expression, while depth remains


def count_flat_expressions(task: TaskConfig) -> dict[str, int]:
    """Exact number of distinct depth-1 expressions per operation.

    For nested tasks this is a lower bound of the space (flat expressions are a subset of it), which
    is the safe side for the generator's "is the space big enough?" check.
    """
    v = task.max_value + 1
    out: dict[str, int] = {}
    for op in task.operations:
        lo, hi = task.arg_range(op)
        out[op] = sum(v**k for k in range(lo, hi + 1))
    return out


def _rows_to_keys(ops: np.ndarray, counts: np.ndarray, numbers: np.ndarray) -> list[ExprKey]:
    """Row i → ``(ops[i], *numbers[i, :counts[i]])``, in row order.

    Tuples are built by ``zip`` over whole columns (in C) one argument count at a time, rather than
    by slicing each row in Python, which was the slowest step of generating a large dataset.
    """
    if counts.min() == counts.max():
        k = int(counts[0])
        return list(zip(ops.tolist(), *numbers[:, :k].T.tolist(), strict=True))
    order = np.argsort(counts, kind="stable")
    sorted_counts = counts[order]
    starts = [0, *(np.flatnonzero(np.diff(sorted_counts)) + 1).tolist(), len(order)]
    grouped: list[ExprKey] = []
    for s, e in itertools.pairwise(starts):
        rows = order[s:e]
        k = int(sorted_counts[s])
        grouped.extend(zip(ops[rows].tolist(), *numbers[rows, :k].T.tolist(), strict=True))
    position = np.empty_like(order)
    position[order] = np.arange(len(order))
    return [grouped[j] for j in position.tolist()]


class ExpressionSampler:
    """Draws expression keys for a task: argument count uniform in the op's range, numbers uniform
    in 0..max_value, and (nested tasks) each argument an expression of a uniformly drawn op with
    probability ``NEST_PROBABILITY`` while depth remains."""

    def __init__(self, task: TaskConfig) -> None:
        self.task = task
        self._names = task.operations
        self._lo = np.array([task.arg_range(op)[0] for op in task.operations], dtype=np.int64)
        self._hi = task.max_args
        self._values = task.max_value + 1
        self._nestable = task.nestable_op_ids

    def draw(self, rng: np.random.Generator, op_indices: np.ndarray) -> list[ExprKey]:
        """One key per entry of ``op_indices`` (indices into ``task.operations``), in order."""
        return self._draw(rng, np.asarray(op_indices, dtype=np.int64), self.task.max_depth)

    def _draw(self, rng: np.random.Generator, ops: np.ndarray, depth_left: int) -> list[ExprKey]:
        n = ops.shape[0]
        if n == 0:
            return []
        hi = self._hi
        counts = rng.integers(self._lo[ops], hi + 1)
        numbers = rng.integers(0, self._values, size=(n, hi))
        keys = _rows_to_keys(ops, counts, numbers)
        if depth_left > 1:
            nest = (rng.random((n, hi)) < NEST_PROBABILITY) & (np.arange(hi)[None, :] < counts[:, None])
            rows, cols = np.nonzero(nest)
            if rows.size:
                sub_ops = self._nestable[rng.integers(0, len(self._nestable), size=rows.size)]
                subs = self._draw(rng, sub_ops, depth_left - 1)
                edited: dict[int, list] = {}
                for r, c, sub in zip(rows.tolist(), cols.tolist(), subs, strict=True):
                    row = edited.get(r)
                    if row is None:
                        row = edited[r] = list(keys[r])
                    row[c + 1] = sub
                for r, row in edited.items():
                    keys[r] = tuple(row)
        return keys

    def build(self, key: ExprKey) -> Expression:
        """The Expression a key stands for."""
        op = self._names[key[0]]
        if self.task.max_depth == 1:  # flat: the key's tail already is the args tuple
            return Expression(op, key[1:], modulus_of(op, self.task))
        args = tuple(a if type(a) is int else self.build(a) for a in key[1:])
        return Expression(op, args, modulus_of(op, self.task))
