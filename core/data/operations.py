"""The toy operations the models learn, defined once.

The generator labels examples with these functions and ``Expression.evaluate`` calls them, so there is
a single definition of what ``Second(4, 7, 1)`` means. ``Sum`` is modular: its answer is
``(a₁ + … + a_k) mod m`` with m = max_value + 1 of the task (10 over digits, 100 over 0–99, p for
modular addition ``a + b mod p``), so like every other answer it is a number of the task. Names are
canonically capitalised; the parser and ``TaskConfig`` map any capitalisation to them with
``canonical_operation``.

``Sort`` is the one operation whose answer is not a number but a list: its arguments in ascending
order, ``Sort(8, 2, 4)`` → ``(2, 4, 8)``, written as the tokens ``2 , 4 , 8`` (``LIST_VALUED``). Its
answer cannot be an argument of another operation, and only a decoder, which writes an answer token by
token, can give it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from core.errors import ExpressionError

MAX_ARGS = 10  # the most arguments an expression may have (any task)
MAX_NUMBER = 99  # the largest number an expression may contain (any task)


def _first(args: Sequence[int]) -> int:
    return args[0]


def _second(args: Sequence[int]) -> int:
    return args[1]


def _last(args: Sequence[int]) -> int:
    return args[-1]


def _max(args: Sequence[int]) -> int:
    return max(args)


def _min(args: Sequence[int]) -> int:
    return min(args)


def _sum(args: Sequence[int]) -> int:
    return sum(args)


def _sort(args: Sequence[int]) -> tuple[int, ...]:
    return tuple(sorted(args))


#: what an operation gives: a number, or (``LIST_VALUED`` operations) a tuple of numbers
Answer = int | tuple[int, ...]

OPERATIONS: dict[str, Callable[[Sequence[int]], Answer]] = {
    "First": _first,
    "Second": _second,
    "Last": _last,
    "Max": _max,
    "Min": _min,
    "Sum": _sum,
    "Sort": _sort,
}

MIN_ARGS: dict[str, int] = {"First": 1, "Second": 2, "Last": 1, "Max": 1, "Min": 1, "Sum": 1, "Sort": 1}

#: operations whose answer is taken modulo the task's number of values (max_value + 1)
MODULAR: frozenset[str] = frozenset({"Sum"})

#: operations whose answer is a list of numbers (a tuple), not one number
LIST_VALUED: frozenset[str] = frozenset({"Sort"})

#: the operations a task uses when none are named: the five that pick one of their arguments
DEFAULT_OPERATIONS: tuple[str, ...] = ("First", "Second", "Last", "Max", "Min")

_BY_LOWER: dict[str, str] = {name.lower(): name for name in OPERATIONS}


def canonical_operation(name: str) -> str | None:
    """The canonical spelling of an operation name in any capitalisation, or None if unknown."""
    return _BY_LOWER.get(name.lower())


def apply_operation(name: str, args: Sequence[int], modulus: int = 0) -> Answer:
    """Evaluate operation ``name`` (canonical spelling) on ``args``; a modular operation's result is
    reduced mod ``modulus`` (when it is not 0)."""
    fn = OPERATIONS.get(name)
    if fn is None:
        raise ExpressionError(f"unknown operation {name!r}; known operations: {', '.join(OPERATIONS)}", str(name))
    if len(args) < MIN_ARGS[name]:
        raise ExpressionError(
            f"{name} needs at least {MIN_ARGS[name]} argument{'s' if MIN_ARGS[name] > 1 else ''}, got {len(args)}",
            name,
        )
    value = fn(args)
    return value % modulus if modulus and name in MODULAR and isinstance(value, int) else value
