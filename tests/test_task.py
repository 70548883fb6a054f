"""TaskConfig validation, serialisation and the sizes derived from it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from core.data.expression import Expression
from core.data.operations import MIN_ARGS, OPERATIONS, apply_operation
from core.data.task import TaskConfig
from core.errors import ConfigError


def test_defaults() -> None:
    t = TaskConfig()
    assert t.operations == ("First", "Second", "Last", "Max", "Min")
    assert (t.max_value, t.min_args, t.max_args, t.max_depth) == (9, 3, 3, 1)
    assert (t.num_classes, t.max_number_tokens, t.max_answer_tokens) == (10, 1, 1)
    assert t.max_expression_tokens == len(Expression("Max", (5, 3, 9)).tokens()) == 8
    assert TaskConfig(max_value=99).max_number_tokens == 2
    assert TaskConfig(max_value=99).num_classes == 100


def test_operations_are_functions() -> None:
    assert list(OPERATIONS) == ["First", "Second", "Last", "Max", "Min", "Sum", "Sort"]
    assert MIN_ARGS == {"First": 1, "Second": 2, "Last": 1, "Max": 1, "Min": 1, "Sum": 1, "Sort": 1}
    args = [4, 7, 1]
    assert [apply_operation(op, args) for op in OPERATIONS] == [4, 7, 1, 7, 1, 12, (1, 4, 7)]
    assert [apply_operation(op, args, modulus=10) for op in OPERATIONS] == [4, 7, 1, 7, 1, 2, (1, 4, 7)]


def test_sum_tasks_name_their_modulus_and_need_the_longer_vocabulary() -> None:
    mod_p = TaskConfig(("Sum",), 46, 2, 2)
    assert (mod_p.modulus, mod_p.num_classes) == (47, 47)
    assert mod_p.describe() == "Sum · 0–46 · 2 args · mod 47"
    assert TaskConfig().vocab_size == 21  # the five operations: the vocabulary models always had
    assert mod_p.vocab_size == 22 and TaskConfig(max_value=37).num_classes == 38


def test_list_and_capitalisation_are_normalised() -> None:
    t = TaskConfig(operations=["max", "MIN"])  # type: ignore[arg-type]
    assert t.operations == ("Max", "Min")
    assert t == TaskConfig(operations=("Max", "Min"))
    assert hash(t) == hash(TaskConfig(operations=("Max", "Min")))
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.max_value = 99  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"operations": ("Max", "Add")}, "unknown operation 'Add'"),
        ({"operations": ("Max", "max")}, "more than once"),
        ({"operations": ()}, "at least one"),
        ({"operations": "Max"}, "list of operation names"),
        ({"operations": (3,)}, "unknown operation 3"),
        ({"max_value": 100}, "max_value must be between 1 and 99"),
        ({"max_value": 0}, "max_value must be between 1 and 99"),
        ({"max_value": "9"}, "max_value must be an integer"),
        ({"max_value": True}, "max_value must be an integer"),
        ({"min_args": 0, "max_args": 3}, "min_args must be between 1 and 10"),
        ({"min_args": 4, "max_args": 3}, r"max_args \(3\) must be at least min_args \(4\)"),
        ({"min_args": 3, "max_args": 11}, "max_args must be between 1 and 10"),
        ({"min_args": 1, "max_args": 1}, "Second needs at least 2"),
        ({"max_depth": 0}, "max_depth must be between 1 and 3"),
        ({"max_depth": 4}, "max_depth must be between 1 and 3"),
    ],
)
def test_invalid_configs(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        TaskConfig(**kwargs)


def test_second_is_fine_with_max_args_one_when_absent() -> None:
    t = TaskConfig(operations=("Max", "Min"), min_args=1, max_args=1)
    assert t.arg_range("Max") == (1, 1)
    t2 = TaskConfig(min_args=1, max_args=4)
    assert t2.arg_range("Second") == (2, 4) and t2.arg_range("First") == (1, 4)


def test_dict_round_trip() -> None:
    t = TaskConfig(operations=("Max", "Second"), max_value=99, min_args=2, max_args=5, max_depth=2)
    d = t.to_dict()
    assert d["operations"] == ["Max", "Second"]
    assert TaskConfig.from_dict(d) == t


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda d: d.pop("max_args"), "missing max_args"),
        (lambda d: d.update(colour="red"), "unknown keys: colour"),
        (lambda d: d.update(max_args="3"), "max_args must be an integer"),
        (lambda d: d.update(operations="Max"), "list of operation names"),
    ],
)
def test_from_dict_refuses_bad_dicts(edit: Callable[[dict[str, Any]], object], match: str) -> None:
    d = TaskConfig().to_dict()
    edit(d)
    with pytest.raises(ConfigError, match=match):
        TaskConfig.from_dict(d)
    with pytest.raises(ConfigError, match="JSON object"):
        TaskConfig.from_dict([1, 2])  # type: ignore[arg-type]


def _longest(task: TaskConfig, depth: int) -> Expression:
    """The longest expression of a task: every argument two-digit (or nested) and max_args of them."""
    if depth == 1:
        return Expression("Max", (task.max_value,) * task.max_args)
    return Expression("Max", (_longest(task, depth - 1),) * task.max_args)


@pytest.mark.parametrize("max_value", [9, 99])
@pytest.mark.parametrize("max_args", [1, 3, 10])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_max_expression_tokens_is_exact(max_value: int, max_args: int, depth: int) -> None:
    task = TaskConfig(operations=("Max",), max_value=max_value, min_args=1, max_args=max_args, max_depth=depth)
    assert task.max_expression_tokens == len(_longest(task, depth).tokens())


def test_describe() -> None:
    assert TaskConfig().describe() == "First/Second/Last/Max/Min · 0–9 · 3 args"
    assert TaskConfig(("Max",), 99, 1, 1).describe() == "Max · 0–99 · 1 arg"
    assert TaskConfig(("Max", "Min"), 9, 2, 5, 2).describe() == "Max/Min · 0–9 · 2–5 args · nested ≤ 2"
