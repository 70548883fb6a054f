"""Generalisation probes: each one's expressions have exactly its out-of-task property (and are otherwise
the task's), probes a model cannot take are skipped with the reason, results are reproducible."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from core.data.expression import Expression, parse_expression
from core.data.operations import MAX_ARGS, MIN_ARGS
from core.data.task import TaskConfig
from core.data.vocab import VOCAB
from core.errors import ExpressionError
from core.nn.config import ModelConfig
from core.nn.models.factory import Model, build_model
from core.probe.generalisation import OUTSIDE, PROBES, probe_examples, probe_generalisation, run_probes
from core.probe.inference import predict

DIGITS = TaskConfig()  # 0–9, three arguments, flat
WIDE = TaskConfig(max_value=99, min_args=2, max_args=5)
DEEPEST = TaskConfig(max_value=99, min_args=1, max_args=MAX_ARGS, max_depth=3)


def numbers(e: Expression) -> list[int]:
    return [n for a in e.args for n in (numbers(a) if isinstance(a, Expression) else [a])]


def arg_counts(e: Expression) -> list[int]:
    return [e.n_args, *(k for a in e.args if isinstance(a, Expression) for k in arg_counts(a))]


def outside(e: Expression, task: TaskConfig) -> bool:
    try:
        parse_expression(str(e), task)
    except ExpressionError:
        return True
    return False


def samples(task: TaskConfig, kind: str, **kw: object) -> dict[str, list[Expression]]:
    return {s.name: s.expressions for s in probe_examples(task, kind, **kw)[0]}  # type: ignore[arg-type]


def oracle(task: TaskConfig, exprs: Sequence[Expression]) -> np.ndarray:
    return np.array([e.evaluate() for e in exprs])


def tiny_model(kind: str, task: TaskConfig, max_len: int = 64) -> Model:
    return build_model(ModelConfig(kind=kind, vocab_size=len(VOCAB), num_classes=task.num_classes, d_model=16,
                                   n_layers=1, n_heads=2, d_ff=32, max_len=max_len), seed=1)


def test_more_arguments_are_more_and_nothing_else_changes() -> None:
    exprs = samples(DIGITS, "encoder")["more_args"]
    assert len(exprs) == 200 and len(set(exprs)) == 200
    assert {e.n_args for e in exprs} == set(range(4, MAX_ARGS + 1))
    for e in exprs:
        assert outside(e, DIGITS) and e.depth == 1 and max(numbers(e)) <= 9 and e.op in DIGITS.operations


def test_fewer_arguments_are_fewer_but_never_below_an_operations_own_minimum() -> None:
    exprs = samples(DIGITS, "encoder")["fewer_args"]
    assert {e.n_args for e in exprs} == {1, 2}
    assert all(outside(e, DIGITS) and e.n_args >= MIN_ARGS[e.op] and max(numbers(e)) <= 9 for e in exprs)
    assert not any(e.op == "Second" and e.n_args < 2 for e in exprs)


def test_deeper_nesting_is_one_level_deeper_with_the_tasks_arguments() -> None:
    exprs = samples(WIDE, "decoder")["deeper_nesting"]
    assert exprs and all(e.depth == 2 and outside(e, WIDE) for e in exprs)
    assert all(2 <= k <= 5 for e in exprs for k in arg_counts(e))


def test_larger_numbers_for_a_decoder_only() -> None:
    exprs = samples(DIGITS, "decoder")["wider_values"]
    assert exprs and all(max(numbers(e)) >= 10 and e.n_args == 3 and e.depth == 1 for e in exprs)
    _, skipped = probe_examples(DIGITS, "encoder")
    reason = {s.name: s.reason for s in skipped}["wider_values"]
    assert reason.startswith("an encoder answers with one of its 10 classes")
    _, skipped = probe_examples(WIDE, "decoder")
    assert "already go to 99" in {s.name: s.reason for s in skipped}["wider_values"]


def test_a_task_at_every_limit_skips_every_probe_and_says_why() -> None:
    found, skipped = probe_examples(DEEPEST, "decoder")
    assert found == [] and [s.name for s in skipped] == [p.name for p in PROBES]
    reasons = {s.name: s.reason for s in skipped}
    assert "up to 10 arguments" in reasons["more_args"]
    assert "fewest arguments" in reasons["fewer_args"]
    assert "already nests 3 levels" in reasons["deeper_nesting"]
    assert "already go to 99" in reasons["wider_values"]


def test_probes_nothing_fits_are_skipped() -> None:
    model = tiny_model("encoder", DIGITS, max_len=8)  # 3 one-digit arguments are 8 tokens: nothing longer fits
    report = probe_generalisation(model, DIGITS)
    reasons = {s.name: s.reason for s in report.skipped}
    assert reasons["more_args"] == reasons["deeper_nesting"] == "none of its expressions fits the model's input length"
    assert [p.name for p in report.probes] == ["fewer_args"]


def test_probes_fit_the_model_for_the_widened_task() -> None:
    model = tiny_model("decoder", WIDE, max_len=24)
    for s in probe_examples(WIDE, "decoder", fits=model.fits)[0]:
        assert all(model.fits(e, s.task) for e in s.expressions)
        assert s.description.endswith(OUTSIDE)


def test_an_oracle_scores_one_and_answers_are_the_consoles() -> None:
    report = run_probes(DIGITS, "decoder", oracle)
    assert [p.name for p in report.probes] == ["more_args", "fewer_args", "deeper_nesting", "wider_values"]
    assert all(p.accuracy == 1.0 and p.n == 200 for p in report.probes)
    model = tiny_model("decoder", DIGITS)
    real = probe_generalisation(model, DIGITS, per_probe=30)
    assert real == probe_generalisation(model, DIGITS, per_probe=30)  # reproducible
    wide = real.probe("wider_values")
    assert wide.failures  # an untrained model: wrong on most
    texts = [f.expression for f in wide.failures]
    console = predict(model, TaskConfig(max_value=99), texts)  # the console of a 0–99 task answers alike
    assert [p.answer for p in console] == [f.answer for f in wide.failures]


def test_the_report_as_json_is_labelled_outside_the_task() -> None:
    data = run_probes(DIGITS, "encoder", oracle, per_probe=20).to_dict()
    assert data["outside_training_task"] is True
    assert all(p["outside_training_task"] and p["n"] == 20 and p["accuracy"] == 1.0 for p in data["probes"])
    assert data["skipped"] == [{"name": "wider_values", "title": "larger numbers",
                                "reason": "an encoder answers with one of its 10 classes (0–9); "
                                          "it has no output for a larger number"}]
    assert data["probes"][0]["by_n_args"].keys() == {str(k) for k in range(4, 11)}


@pytest.mark.parametrize("seed", [0, 5])
def test_the_same_seed_gives_the_same_probes(seed: int) -> None:
    first = [str(e) for es in samples(WIDE, "decoder", seed=seed).values() for e in es]
    assert first == [str(e) for es in samples(WIDE, "decoder", seed=seed).values() for e in es]
    assert first != [str(e) for es in samples(WIDE, "decoder", seed=seed + 1).values() for e in es]
