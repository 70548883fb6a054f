"""Properties of one expression that data generation balances and evaluation slices by.

The stratified generator (``core.data.stratified``) aims for an even spread of each of these, the
Dataset pane draws their histograms (``Dataset.stats``) and the evaluation report cuts accuracy along
them (``core.train.slices``): one definition, so "answer position" means the same thing everywhere.
"""

from __future__ import annotations

from core.data.expression import Expression
from core.data.operations import LIST_VALUED, MODULAR

#: ``answer_position`` of an expression whose answer is no argument (Sum's is computed from all)
NO_POSITION = -1


def top_level_values(expr: Expression) -> list[int]:
    """The values of the top-level arguments (nested arguments evaluated)."""
    return [a.evaluate() if isinstance(a, Expression) else a for a in expr.args]


def answer_position(expr: Expression) -> int:
    """0-based index of the top-level argument whose value is the answer.

    Where several arguments equal the answer (a tie), the first of them is taken: for ``Max(7, 2, 7)``
    that is 0, even though the model may have "looked at" the last 7. ``First`` is 0 by definition,
    ``Second`` 1 unless the first argument has the same value, and so on. A modular operation (Sum)
    computes its answer from every argument, so no argument is it: ``NO_POSITION``; so does a list
    (Sort), whose answer is all of them.
    """
    if expr.op in MODULAR or expr.op in LIST_VALUED:
        return NO_POSITION
    return top_level_values(expr).index(expr.evaluate())


def has_tie(expr: Expression) -> bool:
    """Whether the answer's value occurs more than once among the top-level arguments: then the
    operation's choice does not matter for the answer (``Max(4, 4)`` is 4 whichever 4 is picked).
    A Sum has no tie: its answer is not picked from the arguments. A Sort has one when a number is
    repeated (``Sort(4, 1, 4)``: the model must write 4 twice)."""
    if expr.op in MODULAR:
        return False
    if expr.op in LIST_VALUED:
        values = top_level_values(expr)
        return len(set(values)) < len(values)
    return top_level_values(expr).count(expr.evaluate()) > 1


def digit_pattern(expr: Expression, max_value: int) -> str:
    """Digit count of each top-level argument joined by "-", e.g. ``Max(3, 42, 7)`` → ``1-2-1``; a
    nested argument is written ``e`` (its tokens are an expression, not digits).

    For a 0–9 task every number has one digit, so the pattern says nothing beyond the argument count:
    all examples then get the single slice ``1-digit`` (still reported, so every report has the same
    slicings).
    """
    if max_value < 10:
        return "1-digit"
    return "-".join("e" if isinstance(a, Expression) else str(len(str(a))) for a in expr.args)


def two_digit_count(expr: Expression) -> int:
    """How many numbers anywhere in the expression have two digits (the Dataset pane's digit histogram:
    0 means a learner's "all small" input such as ``Max(3, 7, 2)``)."""
    return sum(two_digit_count(a) if isinstance(a, Expression) else int(a >= 10) for a in expr.args)
