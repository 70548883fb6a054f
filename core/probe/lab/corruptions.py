"""Corrupted inputs for activation patching, made for the task: the same length as the clean input (so every
position lines up) and a different answer (so there is a logit difference to recover).

    change-answer   the number holding the answer replaced by another of the same digit count
    move-answer     the number holding the answer swapped with another argument
    swap-ends       the first and last arguments swapped
    change-digit    one digit of one number changed (the answer's number first)

The first three change top-level numbers only; change-digit reaches numbers inside nested arguments too.
Each corruption tries its candidates in a fixed order, so the same clean input always gives the same
corrupted one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from core.data.expression import Expression
from core.data.features import NO_POSITION, answer_position
from core.data.task import TaskConfig
from core.errors import LabError

Args = tuple[int | Expression, ...]


@dataclass(frozen=True)
class Corruption:
    name: str
    description: str
    expression: Expression


def _numbers(expr: Expression) -> list[int]:
    """Indices of the top-level arguments that are numbers."""
    return [i for i, a in enumerate(expr.args) if not isinstance(a, Expression)]


def _answer_index(expr: Expression) -> int:
    """The argument holding the answer; ``NO_POSITION`` when no single one does (Sum, Sort)."""
    return answer_position(expr)


def _same_digits(value: int, task: TaskConfig) -> list[int]:
    """Other values with the same number of digits, nearest first (then smaller before larger)."""
    lo, hi = (0, min(9, task.max_value)) if value < 10 else (10, task.max_value)
    return sorted((v for v in range(lo, hi + 1) if v != value), key=lambda v: (abs(v - value), v))


def _with(expr: Expression, i: int, value: int | Expression) -> Expression:
    args = list(expr.args)
    args[i] = value
    return Expression(expr.op, tuple(args), expr.modulus)


def _change_answer(expr: Expression, task: TaskConfig) -> Iterator[Expression]:
    i = _answer_index(expr)
    if i == NO_POSITION:
        return
    a = expr.args[i]
    if not isinstance(a, Expression):
        # far values first: they change Max/Min answers more often than neighbours
        for v in sorted(_same_digits(a, task), key=lambda v: (-abs(v - a), v)):
            yield _with(expr, i, v)


def _move_answer(expr: Expression, task: TaskConfig) -> Iterator[Expression]:
    i = _answer_index(expr)
    if i == NO_POSITION:
        return
    for j in range(len(expr.args)):
        if j != i:
            args = list(expr.args)
            args[i], args[j] = args[j], args[i]
            yield Expression(expr.op, tuple(args), expr.modulus)


def _swap_ends(expr: Expression, task: TaskConfig) -> Iterator[Expression]:
    args = list(expr.args)
    args[0], args[-1] = args[-1], args[0]
    yield Expression(expr.op, tuple(args), expr.modulus)


def _leaves(expr: Expression, path: tuple[int, ...] = ()) -> Iterator[tuple[tuple[int, ...], int]]:
    """(path, number) of every number in the expression tree, left to right."""
    for i, a in enumerate(expr.args):
        if isinstance(a, Expression):
            yield from _leaves(a, (*path, i))
        else:
            yield (*path, i), a


def _replace_leaf(expr: Expression, path: tuple[int, ...], value: int) -> Expression:
    head, rest = path[0], path[1:]
    inner = expr.args[head]
    return _with(expr, head, value if not rest else _replace_leaf(inner, rest, value))  # type: ignore[arg-type]


def _change_digit(expr: Expression, task: TaskConfig) -> Iterator[Expression]:
    answer = _answer_index(expr)
    leaves = sorted(_leaves(expr), key=lambda pv: pv[0][0] != answer)  # the answer's argument first
    for path, value in leaves:
        text = str(value)
        for k in range(len(text)):
            for d in "0123456789":
                new = text[:k] + d + text[k + 1:]
                if d != text[k] and not (len(new) > 1 and new[0] == "0") and int(new) <= task.max_value:
                    yield _replace_leaf(expr, path, int(new))


CORRUPTIONS: tuple[tuple[str, str, Callable[[Expression, TaskConfig], Iterator[Expression]]], ...] = (
    ("change-answer", "the number holding the answer replaced", _change_answer),
    ("move-answer", "the number holding the answer moved to another argument", _move_answer),
    ("swap-ends", "the first and last arguments swapped", _swap_ends),
    ("change-digit", "one digit of one number changed (inside nested arguments too)", _change_digit),
)
NAMES = tuple(name for name, _, _ in CORRUPTIONS)


def corruptions(expr: Expression, task: TaskConfig) -> list[Corruption]:
    """Every corruption that applies to ``expr``: same token count, a different answer."""
    found = []
    for name, description, make in CORRUPTIONS:
        for candidate in make(expr, task):
            if len(candidate.tokens()) == len(expr.tokens()) and candidate.answer() != expr.answer():
                found.append(Corruption(name, description, candidate))
                break
    return found


def corrupt(expr: Expression, task: TaskConfig, name: str | None = None) -> Corruption:
    """The named corruption of ``expr`` (None: the first that applies)."""
    if name is not None and name not in NAMES:
        raise LabError(f"unknown corruption {name!r}; the corruptions are {', '.join(NAMES)}")
    found = [c for c in corruptions(expr, task) if name is None or c.name == name]
    if not found:
        what = "no corruption" if name is None else f"the corruption {name!r}"
        raise LabError(f"{what} changes the answer of {expr} while keeping its length; type a corrupted "
                       "input yourself")
    return found[0]
