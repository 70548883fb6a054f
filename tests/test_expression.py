"""Expressions and the parser: accepted spellings, every error kind with its column, and fuzzing.

The fuzz tests pin the parser's contract with the workbench: any string either parses or raises an
ExpressionError whose position lies inside (or just after) the input — never another exception.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.data.expression import MAX_INPUT_CHARS, Expression, _Parser, modulus_of, parse_expression
from core.data.operations import LIST_VALUED, OPERATIONS
from core.data.task import TaskConfig
from core.errors import ConfigError, ExpressionError

TASK = TaskConfig()  # First/Second/Last/Max/Min, 0–9, exactly 3 args, flat
WIDE = TaskConfig(operations=tuple(OPERATIONS), max_value=99, min_args=1, max_args=5, max_depth=3)

# ---------------------------------------------------------------------------------------------------
# The value type.


def test_tokens_str_evaluate() -> None:
    e = Expression("Max", (5, 3, 9))
    assert e.tokens() == ["Max", "(", "5", ",", "3", ",", "9", ")"]
    assert str(e) == "Max(5, 3, 9)"
    assert e.evaluate() == 9 and e.depth == 1 and e.n_args == 3
    assert Expression("First", (42,)).tokens() == ["First", "(", "4", "2", ")"]


def test_nested_expression() -> None:
    e = Expression("Max", (3, Expression("Min", (4, 5))))
    assert str(e) == "Max(3, Min(4, 5))"
    assert e.tokens() == ["Max", "(", "3", ",", "Min", "(", "4", ",", "5", ")", ")"]
    assert e.evaluate() == 4 and e.depth == 2 and e.n_args == 2
    assert Expression("Second", (7, e)).evaluate() == 4


def test_every_operation() -> None:
    args = (6, 2, 8, 1)
    results = {op: Expression(op, args).answer() for op in OPERATIONS}
    assert results == {"First": 6, "Second": 2, "Last": 1, "Max": 8, "Min": 1, "Sum": 17, "Sort": (1, 2, 6, 8)}


def test_sum_is_taken_mod_the_tasks_number_of_values() -> None:
    digits, mod_97 = TaskConfig(("Sum",), 9, 2, 3), TaskConfig(("Sum",), 96, 2, 2)
    assert parse_expression("Sum(7, 8, 9)", digits).evaluate() == 24 % 10
    assert parse_expression("sum(60,50)", mod_97).evaluate() == 110 % 97 == 13
    assert Expression("Sum", (60, 50), modulus=97).evaluate() == 13
    assert Expression("Sum", (60, 50)).evaluate() == 110  # outside a task: the plain sum
    nested = parse_expression("Max(Sum(5, 6), 3)", TaskConfig(("Max", "Sum"), 9, 2, 2, 2))
    assert nested.evaluate() == 3 and nested.args[0].evaluate() == 1  # type: ignore[union-attr]
    assert Expression("Max", (1, 2), modulus=10).modulus == 0  # only a modular operation has one


@pytest.mark.parametrize(
    "op, args, match",
    [
        ("Add", (1, 2), "unknown operation"),
        ("max", (1, 2), "unknown operation"),  # the value type wants the canonical name
        ("Second", (1,), "Second takes 2 to 10"),
        ("Max", (), "Max takes 1 to 10"),
        ("Max", tuple(range(11)), "Max takes 1 to 10"),
        ("Max", (100,), "out of range"),
        ("Max", (-1,), "out of range"),
        ("Max", (True,), "an int or an Expression"),
        ("Max", ("3",), "an int or an Expression"),
    ],
)
def test_constructor_refuses_bad_expressions(op: str, args: tuple, match: str) -> None:
    with pytest.raises(ExpressionError, match=match):
        Expression(op, args)


def test_list_args_become_a_tuple() -> None:
    e = Expression("Max", [1, 2])  # type: ignore[arg-type]
    assert e.args == (1, 2) and hash(e) == hash(Expression("Max", (1, 2)))


# ---------------------------------------------------------------------------------------------------
# What the parser accepts.


@pytest.mark.parametrize(
    "text",
    ["Max(3, 7, 2)", "max(3,7,2)", "MAX ( 3 , 7 , 2 )", "Max ( 3 , 7 , 2 )", "  Max(3, 7, 2)\n", "mAx(3,7,  2)"],
)
def test_accepted_spellings(text: str) -> None:
    for task in (None, TASK):
        assert parse_expression(text, task) == Expression("Max", (3, 7, 2))


def test_nested_and_two_digit_input() -> None:
    e = parse_expression("Max(3, Min(4, 5))")
    assert e == Expression("Max", (3, Expression("Min", (4, 5)))) and e.evaluate() == 4
    assert parse_expression("second( 42 , min(0, 99), 7)", WIDE).evaluate() == 0
    assert parse_expression("Max(0)") == Expression("Max", (0,))


def test_space_separated_token_form_parses() -> None:
    e = Expression("Last", (1, Expression("First", (7, 0)), 5))
    assert parse_expression(" ".join(e.tokens())) == e


def test_digits_separated_by_space_are_two_numbers_not_one() -> None:
    # "4 2" could be a typo for "4, 2" just as well as for 42, so it is refused rather than guessed.
    with pytest.raises(ExpressionError, match=r"expected ',' or '\)'"):
        parse_expression("Max ( 4 2 , 1 )")


def test_deep_nesting_within_the_length_limit() -> None:
    levels = 99
    text = "Max(" * levels + "1" + ")" * levels
    assert len(text) <= MAX_INPUT_CHARS
    assert parse_expression(text).depth == levels


def test_non_str_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        parse_expression(42)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------
# What it rejects, and where.

ERRORS = [
    # (text, task, position, part of the message)
    ("", None, 0, "empty input"),
    ("   \t", TASK, 0, "empty input"),
    ("Mux(1, 2, 3)", None, 0, "did you mean Max"),
    ("  Foo(1)", None, 2, "unknown operation 'Foo'"),
    ("Max 3, 4", None, 4, "expected '(' after Max"),
    ("Max", None, 3, "expected '(' after Max"),
    ("Max(3, 4", None, 8, "missing ')'"),
    ("Max(3 4)", None, 6, "expected ',' or ')'"),
    ("Max(3,,4)", None, 6, "missing argument"),
    ("Max()", None, 4, "missing argument"),
    ("Max(3,)", None, 6, "missing argument"),
    ("Max(3,", None, 6, "missing argument"),
    ("Max(3, 7, 2) x", TASK, 13, "after the end of the expression"),
    ("Max(3, 7, 2))", TASK, 12, "after the end of the expression"),
    ("Max(3; 4)", None, 5, "unexpected character ';'"),
    ("#Max(3)", None, 0, "'#'"),
    ("3", None, 0, "expected an operation"),
    ("(3)", None, 0, "expected an operation name"),
    ("Max(100)", None, 4, "out of range"),
    ("Max(3, 10, 2)", TASK, 7, "out of range: numbers go from 0 to 9"),
    ("Max(3, 07)", None, 7, "leading zeros"),
    ("Max(00)", None, 4, "leading zeros"),
    ("Max(3, -4)", None, 7, "negative numbers"),
    ("Max(3.5)", None, 5, "whole numbers"),
    ("Second(4)", None, 8, "too few arguments"),
    ("Max(1, 2)", TASK, 8, "too few arguments: Max needs at least 3 in this task"),
    ("Max(1, 2, 3, 4)", TASK, 13, "too many arguments: Max takes at most 3"),
    ("Max(" + ",".join("1" * 11) + ")", None, 24, "too many arguments: Max takes at most 10"),
    ("Max(1, 2, 3)", TaskConfig(operations=("Min", "First")), 0, "Max is not part of this task"),
    ("Max(1, Min(2, 3, 4), 5)", TASK, 7, "nested expressions are not part of this task"),
    ("Max(1, Min(2, Max(1, 2, 3), 4), 5)", TaskConfig(max_depth=2), 14, "at most 2 levels"),
    ("Max(1, (2), 3)", None, 7, "expected a number or an expression"),
    ("Max(٣)", None, 4, "unexpected character"),
]


@pytest.mark.parametrize("text, task, position, message", ERRORS)
def test_errors_name_the_problem_and_its_column(
    text: str, task: TaskConfig | None, position: int, message: str
) -> None:
    with pytest.raises(ExpressionError) as info:
        parse_expression(text, task)
    err = info.value
    assert message in err.message
    assert err.position == position, err.pointer()
    assert err.text == text
    assert f"column {position + 1}" in str(err)


def test_too_long_input() -> None:
    with pytest.raises(ExpressionError, match="too long") as info:
        parse_expression("Max(1, 2)" + " " * MAX_INPUT_CHARS)
    assert info.value.position is None


def test_first_problem_in_reading_order_wins() -> None:
    with pytest.raises(ExpressionError, match="unknown operation") as info:
        parse_expression("Mux(3; 4)")
    assert info.value.position == 0


# ---------------------------------------------------------------------------------------------------
# Fuzzing.


def _check_contract(text: str, task: TaskConfig | None) -> None:
    try:
        e = parse_expression(text, task)
    except ExpressionError as err:
        assert err.text == text
        assert err.position is None or 0 <= err.position <= len(text)
        assert err.message
    else:
        assert parse_expression(str(e), task) == e  # canonical text round-trips
        assert isinstance(e.evaluate(), int)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.sampled_from([None, TASK, WIDE]))
def test_arbitrary_text_never_crashes(text: str, task: TaskConfig | None) -> None:
    _check_contract(text, task)


_PIECES = [
    "Max",
    "min",
    "FIRST",
    "Second",
    "last",
    "Mux",
    "x",
    "(",
    ")",
    ",",
    " ",
    "  ",
    "0",
    "3",
    "9",
    "07",
    "42",
    "99",
    "100",
    "-",
    "-1",
    ".",
    "3.5",
    ";",
    "()",
    ",,",
    "\t",
    "\n",
    "٣",
    "Max(",
    "Min(1, 2, 3)",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=25).map("".join), st.sampled_from([None, TASK, WIDE]))
def test_near_valid_text_never_crashes(text: str, task: TaskConfig | None) -> None:
    _check_contract(text, task)


def _expressions(depth: int, top: bool = True) -> st.SearchStrategy[Expression]:
    """Any expression; a list-valued one (Sort) only at the top, as no argument can be a list."""
    arg: st.SearchStrategy[int | Expression] = st.integers(0, 99)
    if depth > 1:
        arg = st.one_of(arg, _expressions(depth - 1, top=False))
    ops = [op for op in OPERATIONS if top or op not in LIST_VALUED]
    return st.sampled_from(ops).flatmap(
        lambda op: st.lists(arg, min_size=2, max_size=5).map(lambda a: Expression(op, tuple(a), modulus_of(op, WIDE)))
    )


@settings(max_examples=200, deadline=None)
@given(_expressions(3), st.sampled_from(["canonical", "spaced", "tight", "upper"]))
def test_valid_expressions_round_trip(e: Expression, style: str) -> None:
    text = {
        "canonical": str(e),
        "spaced": str(e).replace("(", " ( ").replace(")", " ) ").replace(",", " , "),
        "tight": str(e).replace(" ", ""),
        "upper": str(e).upper(),
    }[style]
    assert str(parse_expression(text)) == str(e)  # without a task a Sum has no modulus: the same text
    assert parse_expression(text, WIDE) == e


_CANONICAL_PIECES = ["Max", "min", "Second", "Mux", "(", ")", ", ", ",", "0", "00", "7", "42", "99", "100", "1"]


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.lists(st.sampled_from(_CANONICAL_PIECES), max_size=12).map("".join),
        _expressions(1).map(str),
    ),
    st.sampled_from([None, TASK, WIDE, TaskConfig(operations=("Max",), min_args=2, max_args=2)]),
)
def test_fast_path_agrees_with_the_full_parser(text: str, task: TaskConfig | None) -> None:
    # parse_expression short-cuts canonical flat text; the full parser must give the same outcome.
    try:
        slow: Expression | str = _Parser(text, task).parse()
    except ExpressionError as err:
        slow = str(err)
    try:
        fast: Expression | str = parse_expression(text, task)
    except ExpressionError as err:
        fast = str(err)
    assert fast == slow


@settings(max_examples=300, deadline=None)
@given(st.sets(st.sampled_from(list(OPERATIONS)), min_size=1), st.integers(1, 99), st.integers(1, 5),
       st.integers(0, 4), st.integers(1, 3))
def test_a_tasks_example_expression_is_one_it_accepts(ops: set[str], max_value: int, min_args: int, extra: int,
                                                      depth: int) -> None:
    """The example a hint suggests parses in its task, whatever the task (a Sum mod 47 model was told to
    try Max(3, 7, 2))."""
    try:
        task = TaskConfig(operations=tuple(sorted(ops)), max_value=max_value, min_args=min_args,
                          max_args=min(5, min_args + extra), max_depth=depth)
    except ConfigError:
        return  # e.g. Second with one argument at most, or a nested Sort-only task
    parse_expression(task.example_expression(), task)


def test_the_example_is_max_3_7_2_for_the_default_task_and_a_sum_for_the_grokking_one() -> None:
    assert TaskConfig().example_expression() == "Max(3, 7, 2)"
    grokking = TaskConfig(operations=("Sum",), max_value=46, min_args=2, max_args=2)
    assert grokking.example_expression() == "Sum(34, 17)"
    with pytest.raises(ExpressionError, match=r"Max is not part of this task, which uses Sum \(e.g. Sum\(34, 17\)\)"):
        parse_expression("Max(3, 7, 2)", grokking)
