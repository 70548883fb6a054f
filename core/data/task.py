"""What a task is: which operations, how large the numbers, how many arguments, how deep the nesting.

A task fixes the model's output space (``num_classes``) and the longest sequence it will see
(``max_expression_tokens``), so the model config, the generator and the parser all read it from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from core.data.operations import (
    DEFAULT_OPERATIONS,
    LIST_VALUED,
    MAX_ARGS,
    MAX_NUMBER,
    MIN_ARGS,
    MODULAR,
    OPERATIONS,
    canonical_operation,
)
from core.data.vocab import LATER_TOKENS, VOCAB
from core.errors import ConfigError
from core.validation import Option, option_defaults, validate_options

#: the usual ranges of numbers: digits and 0–99 (any max_value from 1 to 99 is allowed: modular
#: addition uses a prime p = max_value + 1)
USUAL_MAX_VALUES: tuple[int, ...] = (9, 99)
MAX_DEPTH = 3


def _normalised_operations(ops: Any) -> tuple[str, ...]:
    """Canonical spelling, order kept (it defines the op ids), duplicates and unknowns refused."""
    if isinstance(ops, str) or not isinstance(ops, list | tuple):
        raise ConfigError(f"operations must be a list of operation names, got {ops!r}")
    if not ops:
        raise ConfigError(f"operations must name at least one of {', '.join(OPERATIONS)}")
    names: list[str] = []
    for op in ops:
        canon = canonical_operation(op) if isinstance(op, str) else None
        if canon is None:
            raise ConfigError(f"unknown operation {op!r}; known operations: {', '.join(OPERATIONS)}")
        if canon in names:
            raise ConfigError(f"operation {canon} is listed more than once")
        names.append(canon)
    return tuple(names)


#: The task's options (see ``core.validation.Option``), in the order they are checked.
TASK_OPTIONS: tuple[Option, ...] = (
    Option("operations", "names", DEFAULT_OPERATIONS, "operations",
           "the operations, comma-separated (their order fixes the operation ids)", choices=tuple(OPERATIONS),
           aliases=("--ops",), normalise=_normalised_operations),
    Option("max_value", "int", 9, "max value",
           "numbers (and answers) go from 0 to this: 9 (digits), 99, or p − 1 for Sum mod p", 1, MAX_NUMBER),
    Option("min_args", "int", 3, "min args", "fewest arguments per expression", 1, MAX_ARGS),
    Option("max_args", "int", 3, "max args", "most arguments per expression", 1, MAX_ARGS),
    Option("max_depth", "int", 1, "nesting", "nesting depth: 1 = flat; 2–3 let arguments be expressions themselves",
           1, MAX_DEPTH, aliases=("--depth",)),
)

_DEFAULT = option_defaults(TASK_OPTIONS)


@dataclass(frozen=True)
class TaskConfig:
    """A family of expressions: ``operations`` over numbers 0..``max_value`` with ``min_args``..
    ``max_args`` arguments; ``max_depth`` > 1 lets arguments be expressions themselves. ``Sum`` is
    taken mod ``max_value + 1`` (``modulus``)."""

    operations: tuple[str, ...] = _DEFAULT["operations"]
    max_value: int = _DEFAULT["max_value"]
    min_args: int = _DEFAULT["min_args"]
    max_args: int = _DEFAULT["max_args"]
    max_depth: int = _DEFAULT["max_depth"]

    def __post_init__(self) -> None:
        validate_options(self, TASK_OPTIONS)
        if self.max_args < self.min_args:
            raise ConfigError(f"max_args ({self.max_args}) must be at least min_args ({self.min_args})")
        if "Second" in self.operations and self.max_args < MIN_ARGS["Second"]:
            raise ConfigError(
                f"Second needs at least {MIN_ARGS['Second']} arguments, so max_args must be at least "
                f"{MIN_ARGS['Second']} when Second is one of the operations"
            )
        if self.max_depth > 1 and not self.nestable_op_ids.size:
            raise ConfigError(
                f"{'/'.join(self.operations)} answer{'s' if len(self.operations) > 1 else ''} with a list, which "
                "cannot be an argument: a nested task (max_depth > 1) needs an operation whose answer is a number"
            )

    def example_expression(self) -> str:
        """An expression of this task to suggest to a learner: ``Max(3, 7, 2)`` for the default task,
        ``Sum(34, 17)`` for a + b mod 47 — so a hint never proposes what the model cannot take."""
        op = "Max" if "Max" in self.operations else self.operations[0]
        n = min(max(3, self.min_args, MIN_ARGS[op]), self.max_args)
        pool = (3, 7, 2, 5, 8) if self.max_value < 42 else (34, 17, 42, 25, 8)
        return f"{op}({', '.join(str(v % (self.max_value + 1)) for v in pool[:n])})"

    @property
    def nestable_op_ids(self) -> np.ndarray:
        """Ids (into ``operations``) of the operations a nested argument may use: those whose answer is a
        number. A list (Sort's answer) is no argument, so Sort is only ever the outermost operation."""
        return np.array([i for i, op in enumerate(self.operations) if op not in LIST_VALUED], dtype=np.int64)

    @property
    def list_valued(self) -> bool:
        """Whether some answers are lists (Sort): only a decoder, writing token by token, can give them."""
        return any(op in LIST_VALUED for op in self.operations)

    @property
    def num_classes(self) -> int:
        """Number of possible answers (0..max_value): the encoder's output size."""
        return self.max_value + 1

    @property
    def vocab_size(self) -> int:
        """Tokens a model of this task embeds: the vocabulary up to the last token the task uses. A task
        of the first five operations keeps the 21 tokens models had before ``Sum`` (so its models, and
        their seeded initialisation, are what they were); a task with Sum needs the tokens up to it."""
        base = len(VOCAB) - len(LATER_TOKENS)
        return max(base, *(VOCAB.id_of(op) + 1 for op in self.operations))

    @property
    def modulus(self) -> int:
        """The modulus of the modular operations (Sum): the number of values, max_value + 1."""
        return self.max_value + 1

    @property
    def max_number_tokens(self) -> int:
        """Digits in the largest number (numbers are written digit by digit)."""
        return len(str(self.max_value))

    @property
    def max_answer_tokens(self) -> int:
        """Tokens in the longest answer (the decoder also emits [EOS] after them): the digits of a
        number, or for a list (Sort) its max_args numbers with a comma between each two."""
        if self.list_valued:
            return self.max_args * (self.max_number_tokens + 1) - 1
        return self.max_number_tokens

    @property
    def max_expression_tokens(self) -> int:
        """Tokens in the longest expression of this task — exact, also for nested tasks.

        Flat: ``Op ( a , b , c )`` = 2 + max_args·(number + comma/close). Nested: each argument may
        be a whole expression one level shallower, so the same formula recurses on that length.
        """
        arg_len = self.max_number_tokens
        length = 0
        for _ in range(self.max_depth):
            length = 2 + self.max_args * (arg_len + 1)
            arg_len = length
        return length

    def arg_range(self, op: str) -> tuple[int, int]:
        """The (min, max) argument count of ``op`` in this task (Second never takes fewer than 2)."""
        return max(self.min_args, MIN_ARGS[op]), self.max_args

    def describe(self) -> str:
        """A one-line human summary, e.g. ``First/Second/Last/Max/Min · 0–9 · 3 args``."""
        if self.min_args == self.max_args:
            args = f"{self.max_args} arg{'s' if self.max_args != 1 else ''}"
        else:
            args = f"{self.min_args}–{self.max_args} args"
        parts = ["/".join(self.operations), f"0–{self.max_value}", args]
        if any(op in MODULAR for op in self.operations):
            parts.append(f"mod {self.modulus}")
        if self.max_depth > 1:
            parts.append(f"nested ≤ {self.max_depth}")
        return " · ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (operations as a list)."""
        return {
            "operations": list(self.operations),
            "max_value": self.max_value,
            "min_args": self.min_args,
            "max_args": self.max_args,
            "max_depth": self.max_depth,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskConfig:
        """Rebuild from ``to_dict()`` output; every key is required and no other key is allowed."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"a task config must be a JSON object, got {type(data).__name__}")
        expected = [f.name for f in fields(cls)]
        missing = [k for k in expected if k not in data]
        if missing:
            raise ConfigError(f"task config is missing {', '.join(missing)}")
        extra = sorted(str(k) for k in data if k not in expected)
        if extra:
            raise ConfigError(f"task config has unknown keys: {', '.join(extra)}")
        return cls(**{k: data[k] for k in expected})
