"""The counterexample search: every region yields valid expressions of the task that have the region's
property, the same seed gives the same report, a broken model is flagged weak and an oracle is not."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from core.data.expression import Expression, parse_expression
from core.data.task import TaskConfig
from core.data.vocab import VOCAB
from core.errors import ConfigError
from core.nn.config import ModelConfig
from core.nn.models.factory import Model, build_model
from core.probe.counterexamples import (
    REGIONS,
    answer_expressions,
    app_expressions,
    find_counterexamples,
    region_examples,
    search_counterexamples,
)
from core.probe.inference import predict

DIGITS = TaskConfig()  # 0–9, three arguments, flat
WIDE = TaskConfig(max_value=99, min_args=2, max_args=5)
NESTED = TaskConfig(max_value=9, min_args=2, max_args=4, max_depth=3)
TASKS = {"digits": DIGITS, "wide": WIDE, "nested": NESTED}


def values(e: Expression) -> list[int]:
    return [a.evaluate() if isinstance(a, Expression) else a for a in e.args]


def flat(e: Expression) -> bool:
    return all(type(a) is int for a in e.args)


def only_at(e: Expression, i: int) -> bool:
    v = values(e)
    return v[i] == e.evaluate() and v.count(e.evaluate()) == 1


def small(task: TaskConfig) -> int:
    return 9 if task.max_value == 99 else 3


#: each region's property, written independently of the generators
PROPERTIES: dict[str, Callable[[Expression, TaskConfig], bool]] = {
    "small_numbers": lambda e, t: flat(e) and max(values(e)) <= small(t),
    "one_big": lambda e, t: flat(e) and e.n_args >= 2
    and sum(v >= (50 if t.max_value == 99 else 7) for v in values(e)) == 1
    and sorted(values(e))[-2] <= small(t),
    "all_equal": lambda e, t: flat(e) and e.n_args >= 2 and len(set(values(e))) == 1,
    "ties": lambda e, t: flat(e) and values(e).count(e.evaluate()) >= 2 and len(set(values(e))) > 1,
    "close_values": lambda e, t: flat(e) and max(values(e)) - min(values(e)) <= 2 and len(set(values(e))) > 1,
    "sorted_ascending": lambda e, t: flat(e) and e.n_args >= 3
    and all(a < b for a, b in zip(values(e), values(e)[1:], strict=False)),
    "sorted_descending": lambda e, t: flat(e) and e.n_args >= 3
    and all(a > b for a, b in zip(values(e), values(e)[1:], strict=False)),
    "answer_first": lambda e, t: e.op in ("Max", "Min") and only_at(e, 0),
    "answer_last": lambda e, t: e.op in ("Max", "Min") and only_at(e, -1),
    "extremes": lambda e, t: flat(e) and 0 in values(e) and t.max_value in values(e),
    "two_digit_only": lambda e, t: flat(e) and min(values(e)) >= 10,
    "deep_nesting": lambda e, t: e.depth == t.max_depth,
    "app_examples": lambda e, t: e in app_expressions(t),
}


def oracle(exprs: Sequence[Expression]) -> np.ndarray:
    return np.array([e.evaluate() for e in exprs])


def always_zero(exprs: Sequence[Expression]) -> np.ndarray:
    return np.zeros(len(exprs), dtype=np.int64)


def tiny_model(kind: str, task: TaskConfig) -> Model:
    return build_model(ModelConfig(kind=kind, vocab_size=len(VOCAB), num_classes=task.num_classes, d_model=16,
                                   n_layers=1, n_heads=2, d_ff=32, max_len=40), seed=3)


def test_every_region_has_a_property_check() -> None:
    assert {r.name for r in REGIONS} == set(PROPERTIES)


@pytest.mark.parametrize("task", TASKS.values(), ids=TASKS.keys())
def test_regions_yield_distinct_valid_expressions_with_their_property(task: TaskConfig) -> None:
    samples, _ = region_examples(task, per_region=150, seed=4)
    assert samples
    for s in samples:
        exprs = s.expressions
        assert 0 < len(exprs) <= 150 and len(set(exprs)) == len(exprs), s.region.name
        for e in exprs:
            assert parse_expression(str(e), task) == e, (s.region.name, str(e))  # valid in the task
            assert PROPERTIES[s.region.name](e, task), (s.region.name, str(e))
        if s.region.operations is None and s.region.fixed is None:  # operations in turn: all of them appear
            assert {e.op for e in exprs} == set(task.operations), s.region.name


def test_big_regions_are_full_and_small_ones_found_whole() -> None:
    samples, _ = region_examples(DIGITS, per_region=200)
    by_name = {s.region.name: s.expressions for s in samples}
    assert len(by_name["small_numbers"]) == 200
    assert len(by_name["all_equal"]) == 5 * 10  # every operation × every value: the whole region
    assert parse_expression("Max(3, 7, 2)") in by_name["app_examples"]
    assert parse_expression("Min(3, 7, 2)") in by_name["app_examples"]  # the same arguments, another operation
    assert parse_expression("Max(4, 4)") not in by_name["app_examples"]  # two arguments: not this task


def test_regions_a_task_cannot_have_are_skipped_with_a_reason() -> None:
    _, skipped = region_examples(DIGITS)
    reasons = {s.name: s.reason for s in skipped}
    assert reasons == {"two_digit_only": "the task's numbers go only to 9",
                       "deep_nesting": "the task does not nest expressions"}
    positional = TaskConfig(operations=("First", "Last"), min_args=2, max_args=2)
    names, skipped = region_examples(positional)
    reasons = {s.name: s.reason for s in skipped}
    assert "Max or Min" in reasons["answer_first"] and "Max or Min" in reasons["answer_last"]
    assert "at least 3 arguments" in reasons["ties"] and "at least 3 arguments" in reasons["sorted_ascending"]
    assert "all_equal" in {s.region.name for s in names}


def test_fits_is_respected_and_a_region_with_nothing_that_fits_is_skipped() -> None:
    def short(e: Expression) -> bool:
        return len(e.tokens()) <= 10  # flat with at most 4 one-digit arguments

    samples, skipped = region_examples(NESTED, fits=short)
    assert all(short(e) for s in samples for e in s.expressions)
    reasons = {s.name: s.reason for s in skipped}
    assert reasons["deep_nesting"] == "none of its expressions fits the model's input length"


def test_the_same_seed_gives_the_same_examples_and_another_seed_others() -> None:
    def texts(seed: int) -> dict[str, list[str]]:
        return {s.region.name: [str(e) for e in s.expressions] for s in region_examples(WIDE, 100, seed)[0]}

    assert texts(7) == texts(7)
    assert texts(7)["small_numbers"] != texts(8)["small_numbers"]
    assert texts(7)["app_examples"] == texts(8)["app_examples"]  # a fixed list


def test_an_oracle_is_not_weak_and_a_constant_answer_is() -> None:
    good = search_counterexamples(WIDE, oracle)
    assert good.weak == [] and all(r.accuracy == 1.0 and not r.failures for r in good.regions)
    bad = search_counterexamples(WIDE, always_zero, max_failures=3)
    assert set(bad.weak) == {r.name for r in bad.regions}  # no region is mostly answered 0
    r = bad.region("two_digit_only")
    assert r.accuracy == 0.0 and len(r.failures) == 3
    f = r.failures[0]
    assert f.answer == 0 and f.expected == parse_expression(f.expression).evaluate() != 0


def test_accuracy_by_operation_and_the_threshold() -> None:
    def wrong_on_max(exprs: Sequence[Expression]) -> np.ndarray:
        return np.array([-1 if e.op == "Max" else e.evaluate() for e in exprs])

    report = search_counterexamples(DIGITS, wrong_on_max, threshold=0.6)
    small_numbers = report.region("small_numbers")
    assert small_numbers.by_operation["Max"] == 0.0 and small_numbers.by_operation["First"] == 1.0
    drawn = region_examples(DIGITS)[0][0]
    assert drawn.region.name == "small_numbers"
    assert small_numbers.correct == small_numbers.n - sum(e.op == "Max" for e in drawn.expressions)
    assert all(f.answer is None for f in small_numbers.failures)  # −1: no valid answer
    assert report.weak == ["answer_first", "answer_last"]  # half Max there; a fifth elsewhere
    assert search_counterexamples(DIGITS, wrong_on_max, threshold=0.0).weak == []


def test_an_untrained_model_is_weak_and_answers_as_the_console_does() -> None:
    model = tiny_model("encoder", DIGITS)
    report = find_counterexamples(model, DIGITS, per_region=50)
    assert report.weak and report.to_dict()["weak"] == report.weak
    assert find_counterexamples(model, DIGITS, per_region=50) == report  # reproducible, model untouched
    texts = [f.expression for r in report.regions for f in r.failures]
    console = predict(model, DIGITS, texts)
    assert [p.answer for p in console] == [f.answer for r in report.regions for f in r.failures]


def test_decoder_answers_are_the_evaluations_greedy_generation() -> None:
    model = tiny_model("decoder", WIDE)
    exprs = [parse_expression(t, WIDE) for t in ("Max(3, 7, 2)", "Min(31, 75)", "Last(4, 99, 12, 5, 0)")]
    answers = answer_expressions(model, WIDE, exprs)
    console = [-1 if p.answer is None else p.answer for p in predict(model, WIDE, [str(e) for e in exprs])]
    assert answers.tolist() == console
    assert search_counterexamples(WIDE, lambda es: answer_expressions(model, WIDE, es), per_region=20).weak


def test_the_report_as_json() -> None:
    data = search_counterexamples(DIGITS, always_zero, per_region=30).to_dict()
    assert data["threshold"] == 0.99 and data["per_region"] == 30 and data["seed"] == 0
    region = data["regions"][0]
    assert set(region) >= {"name", "title", "n", "accuracy", "by_operation", "failures"}
    assert set(region["failures"][0]) == {"expression", "expected", "answer"}
    assert data["weak"] == [r["name"] for r in data["regions"] if r["accuracy"] < 0.99]
    assert {s["name"] for s in data["skipped"]} == {"two_digit_only", "deep_nesting"}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"threshold": 1.5}, "threshold must be between 0 and 1"),
    ({"per_region": 0}, "per_region must be an integer from 1"),
    ({"seed": -1}, "seed must be an integer from 0"),
    ({"max_failures": -2}, "max_failures"),
])
def test_bad_options_are_one_line_errors(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        search_counterexamples(DIGITS, oracle, **kwargs)  # type: ignore[arg-type]


def test_an_answerer_giving_the_wrong_number_of_answers_is_refused() -> None:
    with pytest.raises(ConfigError, match="answers for"):
        search_counterexamples(DIGITS, lambda es: np.zeros(3))
