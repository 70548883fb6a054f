"""The toy operations the models learn, defined once.

The generator labels examples with these functions and ``Expression.evaluate`` calls them, so there is
a single definition of what ``Second(4, 7, 1)`` means. ``Sum`` is modular: its answer is
``(a₁ + … + a_k) mod m`` with m = max_value + 1 of the task (10 over digits, 100 over 0–99, p for
modular addition ``a + b mod p``), so like every other answer it is a number of the task. Names are
canonically capitalised; the parser and ``TaskConfig`` map any capitalisation to them with
``canonical_operation``.
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


OPERATIONS: dict[str, Callable[[Sequence[int]], int]] = {
    "First": _first,
    "Second": _second,
    "Last": _last,
    "Max": _max,
    "Min": _min,
    "Sum": _sum,
}

MIN_ARGS: dict[str, int] = {"First": 1, "Second": 2, "Last": 1, "Max": 1, "Min": 1, "Sum": 1}

#: operations whose answer is taken modulo the task's number of values (max_value + 1)
MODULAR: frozenset[str] = frozenset({"Sum"})

#: the operations a task uses when none are named: the five that pick one of their arguments
DEFAULT_OPERATIONS: tuple[str, ...] = ("First", "Second", "Last", "Max", "Min")

_BY_LOWER: dict[str, str] = {name.lower(): name for name in OPERATIONS}


def canonical_operation(name: str) -> str | None:
    """The canonical spelling of an operation name in any capitalisation, or None if unknown."""
    return _BY_LOWER.get(name.lower())


def apply_operation(name: str, args: Sequence[int], modulus: int = 0) -> int:
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
    return value % modulus if modulus and name in MODULAR else value
