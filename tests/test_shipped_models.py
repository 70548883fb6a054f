"""The trained models shipped in saved_models/ (read-only package data) load, verify, and meet the
accuracy targets on their held-out test expressions (regenerated from the seed in their config) — overall,
on every slice of the test split and on every region of the counterexample search.

Only the held-out splits are regenerated (``core.train.held_out``): that the generator still draws what
these models were trained on is tests/test_generator_golden.py's job, for every kind of task they have, and
the small encoder-digits run checks it end to end (its whole dataset regenerated, fingerprint included)."""

from __future__ import annotations

import pytest

from core.probe.counterexamples import find_counterexamples
from core.probe.inference import predict
from core.train.checkpoint import list_checkpoints, read_checkpoint, shipped_models_dir
from core.train.held_out import held_out_split
from core.train.report import build_report
from core.train.slices import min_slice_accuracy

#: each shipped model's overall test accuracy target
SHIPPED = {"encoder-digits": 0.995, "decoder-0-99": 0.99, "nested-digits": 0.99, "nested-0-99": 0.99}
#: the lowest slice and counterexample region each must reach
SLICE_TARGET = {"encoder-digits": 0.99, "decoder-0-99": 0.99, "nested-digits": 0.99, "nested-0-99": 0.97}


@pytest.fixture(autouse=True)
def real_models_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMLEARN_MODELS", raising=False)


@pytest.mark.parametrize(("name", "target"), SHIPPED.items())
def test_shipped_model_meets_its_targets_overall_on_every_slice_and_counterexample_region(
        name: str, target: float) -> None:
    ck = read_checkpoint(name)
    model, task = ck.build_model(), ck.config.dataset.task
    test = held_out_split(ck.config, "test")
    report = build_report(model, task, "test", test)
    assert report.n >= 1000
    assert report.accuracy >= target, f"{name}: {report.accuracy:.4f} < {target}"
    assert ck.metrics["test_accuracy"] == pytest.approx(report.accuracy)  # the split it was measured on
    low = min_slice_accuracy(report.slices)
    assert low is not None and low >= SLICE_TARGET[name], [s.title for s in report.worst_slices(3)]
    assert ck.metrics["test_min_slice_accuracy"] == pytest.approx(low)  # what `workbench models` shows
    found = find_counterexamples(model, task, threshold=SLICE_TARGET[name])  # as `workbench counterexamples`
    assert found.regions and not found.weak, found.weak


def test_the_small_shipped_run_regenerates_the_dataset_it_was_trained_on() -> None:
    run, warnings = read_checkpoint("encoder-digits").build_run()
    assert warnings == []  # the fingerprint of the whole regenerated dataset matches the saved one
    assert run.test_split is not None and not set(run.test_split.texts) & set(run.train_split.texts)


def test_shipped_models_are_listed_with_their_metrics() -> None:
    infos = {i.name: i for i in list_checkpoints(shipped_models_dir())}
    assert {i.name: i for i in list_checkpoints()}.keys() >= SHIPPED.keys()
    for name, target in SHIPPED.items():
        assert infos[name].error is None and infos[name].shipped
        assert infos[name].metrics["test_accuracy"] >= target


@pytest.mark.parametrize(("name", "text", "answer"), [
    ("encoder-digits", "Max(3, 7, 2)", 7),
    ("encoder-digits", "second ( 4 , 1 , 8 )", 1),
    ("decoder-0-99", "Max(31, 7, 95, 12)", 95),
    ("decoder-0-99", "Last(42, 17)", 17),
    ("decoder-0-99", "Max(3, 7, 2)", 7),  # the app's own placeholder, once answered 2
    ("decoder-0-99", "Min(97, 73, 63, 49, 5)", 5),
    ("nested-digits", "Max(3, 7, 2)", 7),
    ("nested-digits", "Max(First(2, 8), Min(5, 1))", 2),
    ("nested-0-99", "Max(3, 7, 2)", 7),
    ("nested-0-99", "Max(First(42, 8), Min(57, 61))", 57),
    ("nested-0-99", "Min(Last(3, 99), 12)", 12),
])
def test_shipped_models_answer_typed_expressions(name: str, text: str, answer: int) -> None:
    ck = read_checkpoint(name)
    (result,) = predict(ck.build_model(), ck.config.dataset.task, [text])
    assert result.error is None and result.answer == answer
