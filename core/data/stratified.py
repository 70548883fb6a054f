"""Stratified generation: expressions built backwards from their answer, so every region a person types
into is in the data.

Uniform draws make some inputs vanishingly rare: five numbers from 0–99 are all below 10 with
probability 10⁻⁵, so a model can score 99.9% on a uniform test split and still answer ``Max(3, 7, 2)``
wrongly. This sampler instead chooses, for each expression (all choices independent and uniform unless
a share is given):

    operation         balanced by the caller (example i gets operation i mod n_ops)
    argument count k  uniform in the operation's range
    depth d           uniform in 1..max_depth (nested tasks); one argument is an expression of depth d−1
    answer a          uniform in 0..max_value — every answer value equally often
    small             with share SMALL_SHARE (0–99 tasks): every number of the expression is single-digit
    answer position   Max/Min: uniform in 0..k−1; First 0, Second 1, Last k−1; Sum: the argument
                      that is solved for last, uniform in 0..k−1
    the other numbers Max: in 0..a−1, Min: in a+1..max, First/Second/Last: anywhere (only 0 for
                      Max(0, …) and max for Min(max, …), where nothing else is possible); each number's
                      digit count 1 or 2 with equal chance where both are possible; Sum: anywhere,
                      and then the argument at the answer position is (a − the others' sum) mod m;
                      Sort: like First (its list holds every number, one of them a)
    close             with share CLOSE_SHARE the other numbers lie within CLOSE_WINDOW of the answer
    tie               with share TIE_SHARE one other argument equals the answer (Max(7, 2, 7))
    nested arguments  an argument chosen to be an expression is built the same way *with its value
                      fixed*: the number it replaces, so the expression's answer stays ``a``

Every choice is made for a whole chunk of rows with NumPy; the result is the same key format as
``ExpressionSampler``'s (``(op_index, arg, …)``), so the dataset generator deduplicates and keeps the
splits disjoint exactly as it does for uniform draws.
"""

from __future__ import annotations

import numpy as np

from core.data.expression import Expression, modulus_of
from core.data.operations import LIST_VALUED
from core.data.sampling import NEST_PROBABILITY, ExprKey, _rows_to_keys
from core.data.task import TaskConfig

SMALL_SHARE = 0.15  # 0–99 tasks: expressions whose numbers are all single-digit
CLOSE_SHARE = 0.2  # the other numbers within CLOSE_WINDOW of the answer (Max(57, 55, 56))
CLOSE_WINDOW = 3
TIE_SHARE = 0.15  # one other argument equals the answer

# How the answer is found, per operation: by position, or by value
_POSITIONAL = {"First": 0, "Second": 1, "Last": -1}
_MAX, _MIN, _AT, _SUM = 0, 1, 2, 3


def _uniform_between(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """One integer uniform in [lo, hi] per element (lo ≤ hi everywhere)."""
    return lo + np.floor(rng.random(lo.shape) * (hi - lo + 1)).astype(np.int64)


def digit_balanced(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """One integer in [lo, hi] per element: first its digit count, 1 or 2 with equal chance when the
    range holds both kinds, then uniform among the numbers with that many digits.

    Uniform over 0–99 would make 90% of numbers two-digit; this makes "one big number among small ones"
    and "all small" common enough to learn."""
    lo1, hi1 = lo, np.minimum(hi, 9)
    lo2, hi2 = np.maximum(lo, 10), hi
    has1, has2 = lo1 <= hi1, lo2 <= hi2
    two = has2 & (~has1 | (rng.random(lo.shape) < 0.5))
    return _uniform_between(rng, np.where(two, lo2, lo1), np.where(two, hi2, hi1))


class StratifiedSampler:
    """Draws expression keys for a task as the module docstring describes (same interface as
    ``ExpressionSampler``: ``draw`` then ``build``)."""

    def __init__(self, task: TaskConfig) -> None:
        self.task = task
        self._names = task.operations
        self._lo = np.array([task.arg_range(op)[0] for op in task.operations], dtype=np.int64)
        self._hi = task.max_args
        self._max = task.max_value
        rule = [{"Max": _MAX, "Min": _MIN, "Sum": _SUM}.get(op, _AT) for op in task.operations]
        self._rule = np.array(rule, dtype=np.int64)
        self._fixed = np.array([_POSITIONAL.get(op, 0) for op in task.operations], dtype=np.int64)
        self._nestable = task.nestable_op_ids

    def draw(self, rng: np.random.Generator, op_indices: np.ndarray) -> list[ExprKey]:
        """One key per entry of ``op_indices`` (indices into ``task.operations``), in order."""
        ops = np.asarray(op_indices, dtype=np.int64)
        depths = np.asarray(rng.integers(1, self.task.max_depth + 1, size=ops.shape[0]), dtype=np.int64)
        return self._draw(rng, ops, None, depths)

    def _draw(self, rng: np.random.Generator, ops: np.ndarray, values: np.ndarray | None,
              depths: np.ndarray) -> list[ExprKey]:
        """Keys for ``ops`` with exact nesting ``depths`` and, when given, the answers ``values``."""
        n, width, top = ops.shape[0], self._hi, self._max
        if n == 0:
            return []
        counts = rng.integers(self._lo[ops], width + 1)
        # single-digit expressions (0–99 tasks): the ceiling of every number drops to 9
        small = (rng.random(n) < SMALL_SHARE) if top >= 10 else np.zeros(n, dtype=bool)
        if values is None:
            values = np.where(small, rng.integers(0, 10, size=n), rng.integers(0, top + 1, size=n))
        else:
            small &= values <= 9
        ceiling = np.where(small, 9, top)
        rule = self._rule[ops]
        fixed = self._fixed[ops]
        position = np.where(rule == _AT, np.where(fixed < 0, counts - 1, fixed), rng.integers(0, counts))
        # bounds of the other numbers: below the answer for Max, above it for Min, anywhere otherwise
        lo = np.where(rule == _MIN, np.minimum(values + 1, ceiling), 0)
        hi = np.where(rule == _MAX, np.maximum(values - 1, 0), ceiling)
        close = rng.random(n) < CLOSE_SHARE
        lo = np.where(close, np.maximum(lo, values - CLOSE_WINDOW), lo)
        hi = np.where(close, np.minimum(hi, values + CLOSE_WINDOW), hi)
        numbers = digit_balanced(rng, np.repeat(lo[:, None], width, 1), np.repeat(hi[:, None], width, 1))
        rows = np.arange(n)
        tie = (rng.random(n) < TIE_SHARE) & (counts >= 2)
        other = (position + rng.integers(1, np.maximum(counts, 2))) % counts  # any position but the answer's
        numbers[rows[tie], other[tie]] = values[tie]
        numbers[rows, position] = values
        summed = rule == _SUM
        if summed.any():  # the answer-position argument makes the sum come out at the answer
            used = np.arange(width)[None, :] < counts[:, None]
            others = (numbers * used).sum(axis=1) - numbers[rows, position]
            numbers[rows[summed], position[summed]] = (values[summed] - others[summed]) % self.task.modulus
        keys = _rows_to_keys(ops, counts, numbers)
        if self.task.max_depth > 1 and (depths > 1).any():
            self._nest(rng, keys, numbers, counts, depths)
        return keys

    def _nest(self, rng: np.random.Generator, keys: list[ExprKey], numbers: np.ndarray, counts: np.ndarray,
              depths: np.ndarray) -> None:
        """Replace arguments of the rows deeper than 1 by expressions with the same value: one chosen
        argument gets depth d−1 (so the row's depth is exactly d), others with NEST_PROBABILITY a depth
        in 1..d−1."""
        n, width = numbers.shape
        deep = depths > 1
        forced = rng.integers(0, counts)
        extra = (rng.random((n, width)) < NEST_PROBABILITY) & (np.arange(width)[None, :] < counts[:, None])
        nest = extra & deep[:, None]
        nest[np.flatnonzero(deep), forced[deep]] = True
        rows, cols = np.nonzero(nest)
        sub_depths = np.where(cols == forced[rows], depths[rows] - 1,
                              rng.integers(1, np.maximum(depths[rows], 2)))
        sub_ops = self._nestable[rng.integers(0, len(self._nestable), size=rows.size)]
        subs = self._draw(rng, sub_ops, numbers[rows, cols], sub_depths)
        edited: dict[int, list] = {}
        for r, c, sub in zip(rows.tolist(), cols.tolist(), subs, strict=True):
            row = edited.get(r)
            if row is None:
                row = edited[r] = list(keys[r])
            row[c + 1] = sub
        for r, row in edited.items():
            keys[r] = tuple(row)

    def build(self, key: ExprKey) -> Expression:
        """The Expression a key stands for."""
        args = tuple(a if type(a) is int else self.build(a) for a in key[1:])
        op = self._names[key[0]]
        return Expression(op, args, modulus_of(op, self.task))


class HeldOutCap:
    """Keeps a held-out split from taking more than a quarter of any small stratum of flat expressions.

    Stratified draws ask for every answer value equally often, but some strata are tiny: over 0–9
    with three arguments there is one ``Max`` expression with answer 0 and seven with answer 1. Drawn
    without a cap, validation and test would take them all and training would never see a small Max.
    A stratum is (operation, argument count, answer); its size is exact for flat expressions:

        Max   (a+1)^k − a^k          (all numbers ≤ a, minus those all < a)
        Min   (N−a)^k − (N−a−1)^k    (all ≥ a, minus all > a), N = max_value + 1
        First, Second, Last, Sum   N^(k−1)  (the answer's argument fixed by the others, they are free)
        Sort  N^k, answer "−1"       (a list is no stratum: every Sort of k numbers is one)

    Each of validation and test takes at most ⌊size/4⌋ of a stratum, so training keeps at least half of
    every stratum, and all of a stratum of fewer than four (``Max(0, 0, 0)`` is the only Max with answer 0
    over three digits: held out, no model would ever see it). Nested expressions are not capped: their
    space is vast. When the split asks for nearly a quarter of the whole space the cap cannot be kept;
    after ``patience`` refusals (20 per example wanted) it gives way rather than fail the generation.
    """

    def __init__(self, task: TaskConfig, n: int) -> None:
        self._task = task
        self._names = task.operations
        self._n = task.max_value + 1
        self._taken: dict[tuple[int, int, int], int] = {}
        self.patience = 20 * n + 1_000

    def _size(self, op: str, k: int, a: int) -> int:
        n = self._n
        if op == "Max":
            return (a + 1) ** k - a**k
        if op == "Min":
            return (n - a) ** k - (n - a - 1) ** k
        if op in LIST_VALUED:
            return n**k
        return n ** (k - 1)

    def admit(self, key: ExprKey) -> bool:
        """Whether ``key`` may join the split (and, if so, count it)."""
        args = key[1:]
        op = self._names[key[0]]
        if self.patience <= 0 or any(type(a) is not int for a in args):
            return True
        # a list answer (Sort) is no stratum of its own: its stratum is every Sort of k numbers
        answer = -1 if op in LIST_VALUED else Expression(op, args, modulus_of(op, self._task)).evaluate()
        stratum = (key[0], len(args), answer)
        taken = self._taken.get(stratum, 0)
        if taken >= self._size(op, len(args), answer) // 4:
            self.patience -= 1
            return False
        self._taken[stratum] = taken + 1
        return True
