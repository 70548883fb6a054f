"""Accuracy by slice: hand-made features, the partition property on the shipped models, JSON and CLI text."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from functools import cache

import numpy as np
import pytest

from core.data.batching import encode_examples
from core.data.dataset import generate_dataset
from core.data.expression import Expression, parse_expression
from core.data.features import answer_position, digit_pattern, has_tie
from core.train.checkpoint import read_checkpoint
from core.train.report import EvaluationReport, build_report
from core.train.slices import (
    SLICINGS,
    Slice,
    compute_slices,
    min_slice_accuracy,
    slicing_line,
    worst_slices,
)
from workbench.cli import main

SHIPPED = ("encoder-digits", "decoder-0-99")


@cache
def _shipped_report(name: str) -> EvaluationReport:
    """A shipped model's report, built as ``workbench eval`` builds it (once per name), on 2,000 held-out
    expressions of its task drawn as its own were (its config's strategy and seed) but with a small training
    split: regenerating the decoder's own 1.28M training examples would cost ~15 s for nothing tested here."""
    ck = read_checkpoint(name)
    data = generate_dataset(replace(ck.config.dataset, n_train=1_000, n_val=0, n_test=2_000))
    task = ck.config.dataset.task
    split = encode_examples(data.test, task, ck.config.model.kind)
    return build_report(ck.build_model(), task, "test", split)


def _e(text: str) -> Expression:
    return parse_expression(text)


def test_answer_position_takes_the_first_equal_argument() -> None:
    assert answer_position(_e("First(7, 7, 3)")) == 0
    assert answer_position(_e("Second(4, 9, 1)")) == 1
    assert answer_position(_e("Second(9, 9, 1)")) == 0  # the first argument already has the answer's value
    assert answer_position(_e("Max(2, 8, 8)")) == 1
    assert answer_position(_e("Last(3, 1, 5)")) == 2
    assert answer_position(_e("Min(Max(1, 2), 0)")) == 1


def test_ties_and_digit_patterns() -> None:
    assert has_tie(_e("Max(4, 4, 1)")) and not has_tie(_e("Max(4, 1, 1)"))
    assert has_tie(_e("Min(Max(1, 2), 2)"))  # nested arguments count by their value
    assert digit_pattern(_e("Max(3, 42, 7)"), 99) == "1-2-1"
    assert digit_pattern(_e("Max(10, 0)"), 99) == "2-1"
    assert digit_pattern(_e("Max(Min(1, 2), 30)"), 99) == "e-2"
    assert digit_pattern(_e("Max(3, 4)"), 9) == "1-digit"


def test_hand_made_slices_are_sorted_naturally() -> None:
    exprs = [_e(t) for t in ("Max(3, 42, 7)", "Min(5, 5)", "First(Max(1, 2), 9)", "Max(10, 20)", "Min(5, 5)")]
    correct = np.array([True, False, True, True, False])
    s = compute_slices(exprs, correct, ("First", "Max", "Min"), 99)
    assert list(s) == [key for key, _ in SLICINGS]
    assert [(x.value_label, x.n, x.correct) for x in s["operation"]] == [("First", 1, 1), ("Max", 2, 2), ("Min", 2, 0)]
    assert [x.value_label for x in s["answer"]] == ["2", "5", "20", "42"]  # numbers ascending, not as text
    assert [x.value_label for x in s["digit_pattern"]] == ["1-1", "2-2", "e-1", "1-2-1"]
    assert [(x.value_label, x.n) for x in s["tie"]] == [("no tie", 3), ("tie", 2)]
    assert [(x.value_label, x.n) for x in s["depth"]] == [("1", 4), ("2", 1)]
    assert [(x.value_label, x.n) for x in s["answer_position"]] == [("0", 3), ("1", 2)]
    assert worst_slices(s, 1, min_n=2)[0] == Slice("operation", "Min", 2, 0, 0.0)
    assert min_slice_accuracy(s, min_n=3) == pytest.approx(1 / 3)  # answer position 0: 1 right of 3
    assert min_slice_accuracy(s, min_n=100) is None


@pytest.mark.parametrize("name", SHIPPED)
def test_slices_partition_the_split(name: str) -> None:
    report = _shipped_report(name)
    assert list(report.slices) == [key for key, _ in SLICINGS]
    right = report.n - len(report.mistakes)
    for key, group in report.slices.items():
        assert group, key
        assert sum(s.n for s in group) == report.n, key
        assert sum(s.correct for s in group) == right, key
        assert sum(s.n * s.accuracy for s in group) / report.n == pytest.approx(report.accuracy), key
        assert len({s.value_label for s in group}) == len(group), key
    by_op = {s.value_label: s.accuracy for s in report.slices["operation"]}
    assert by_op == pytest.approx(report.accuracy_by_op)
    if name == "encoder-digits":
        assert [s.value_label for s in report.slices["digit_pattern"]] == ["1-digit"]
        assert [s.value_label for s in report.slices["answer"]] == [str(v) for v in range(10)]
    else:
        assert len(report.slices["digit_pattern"]) > 1


def test_json_has_the_slices() -> None:
    data = json.loads(json.dumps(_shipped_report("decoder-0-99").to_dict()))
    assert {"accuracy_by_operation", "confusion_matrix", "mistakes"} <= set(data)  # the old keys stay
    assert set(data["slices"]) == {key for key, _ in SLICINGS}
    first = data["slices"]["answer"][0]
    assert set(first) == {"value", "n", "accuracy"} and first["value"] == "0"
    assert len(data["slices"]["answer"]) == 100
    assert 0.0 <= data["min_slice_accuracy"] <= data["accuracy"]


def test_long_slicings_are_summarised_in_80_columns() -> None:
    group = [Slice("answer", str(v), 30, 30 - (v == 7) * 2, (30 - (v == 7) * 2) / 30) for v in range(100)]
    line = slicing_line("answer", group)
    assert len(line) <= 80
    assert line.startswith("  answer value: 100 slices, 93.3%–100.0%; lowest 93.3% at 7 (n=30)")
    short = slicing_line("tie", [Slice("tie", "no tie", 9, 9, 1.0), Slice("tie", "tie", 1, 0, 0.0)])
    assert short == "  ties: no tie 100.0%  tie 0.0%"


@pytest.mark.parametrize("name", ["encoder-digits"])  # (the decoder's 0–99 lines: test_json_has_the_slices)
def test_cli_slice_section_fits_80_columns(name: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["eval", name], stdin=io.StringIO(), stdout=out, stderr=err) == 0, err.getvalue()
    lines = out.getvalue().splitlines()
    start = lines.index("by slice:")
    section = lines[start : start + len(SLICINGS) + 2]
    assert section[-1].startswith("lowest slice: ")
    assert all(len(line) <= 80 for line in section), section
    assert any(line.startswith("  answer value: ") for line in section)


def test_the_evaluation_view_lists_the_lowest_slices() -> None:
    from workbench.render.evaluation import accuracy_text

    report = _shipped_report("decoder-0-99")
    lines = accuracy_text(report, "decoder-0-99").plain.splitlines()
    start = lines.index("lowest slices")
    worst = report.worst_slices(3)
    assert len(lines[start + 1 : start + 1 + len(worst)]) == len(worst)
    assert lines[start + 1].startswith(f"  {worst[0].title[:24]:<24} ")
    assert lines[start + 1].endswith(f"{worst[0].accuracy:7.2%} (n={worst[0].n:,})")
