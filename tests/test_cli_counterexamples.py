"""``workbench counterexamples`` (text and --json, exit codes) and the generalisation section of ``eval``."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from core.probe.generalisation import probe_generalisation
from core.train.checkpoint import read_checkpoint, save_checkpoint
from core.train.report import build_report
from core.train.run import Run
from tests.conftest import tiny_config
from workbench.cli import main


def _run(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(args, stdin=io.StringIO(""), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def tiny(models_dir: Path) -> str:
    save_checkpoint(Run(tiny_config(epochs=1)), "tiny")  # untrained: eval needs only a readable model
    return "tiny"


def test_counterexamples_json_has_the_documented_shape() -> None:
    code, out, err = _run(["counterexamples", "encoder-digits", "--per-region", "40", "--json"])
    assert code == 0 and err == ""
    data = json.loads(out)
    assert data["threshold"] == 0.99 and data["model"] == "encoder-digits"
    assert [r["name"] for r in data["regions"]][:3] == ["small_numbers", "one_big", "all_equal"]
    for r in data["regions"]:
        assert {"name", "title", "n", "accuracy", "by_operation", "failures"} <= set(r)
        assert 0 < r["n"] <= 40 and 0.0 <= r["accuracy"] <= 1.0
        assert all(set(f) == {"expression", "expected", "answer"} for f in r["failures"])
    assert data["weak"] == [r["name"] for r in data["regions"] if r["accuracy"] < 0.99]
    assert {s["name"] for s in data["skipped"]} == {"two_digit_only", "deep_nesting"}


def test_counterexamples_text_marks_the_weak_regions(tiny: str) -> None:
    code, out, _ = _run(["counterexamples", tiny, "--per-region", "40", "--json", "--threshold", "1"])
    data = json.loads(out)
    weak_titles = {r["title"] for r in data["regions"] if r["name"] in data["weak"]}
    assert weak_titles  # an untrained model is wrong somewhere in every region
    code, text, _ = _run(["counterexamples", tiny, "--per-region", "40", "--threshold", "1"])
    assert code == 0
    lines = text.splitlines()
    assert lines[0].startswith("tiny · ")
    marked = {line[5:].split("  ")[0] for line in lines if line.startswith("  ✗ ")}
    assert marked == weak_titles
    assert f"weak ({len(weak_titles)} of {len(data['regions'])} regions)" in text
    assert "skipped: deep nesting" in text
    failing = next(f for r in data["regions"] for f in r["failures"])
    assert f"{failing['expression']} = {failing['expected']}, model said {failing['answer']}" in text


def test_counterexamples_at_threshold_zero_finds_nothing_weak_and_still_exits_0() -> None:
    code, text, _ = _run(["counterexamples", "encoder-digits", "--per-region", "20", "--threshold", "0"])
    assert code == 0 and "no weak region: every region is at or above 0.0%" in text
    assert not any(line.startswith("  ✗ ") for line in text.splitlines())


def test_counterexamples_are_reproducible_from_the_seed() -> None:
    args = ["counterexamples", "encoder-digits", "--per-region", "30", "--json"]
    assert _run([*args, "--seed", "3"])[1] == _run([*args, "--seed", "3"])[1]
    assert json.loads(_run([*args, "--seed", "3"])[1])["seed"] == 3


@pytest.mark.parametrize(("args", "message"), [
    (["--threshold", "1.5"], "error: threshold must be between 0 and 1, got 1.5"),
    (["--per-region", "0"], "error: per_region must be an integer from 1"),
    (["--seed", "-1"], "error: seed must be an integer from 0"),
])
def test_bad_counterexample_options_exit_2(args: list[str], message: str) -> None:
    code, _, err = _run(["counterexamples", "encoder-digits", *args])
    assert code == 2 and err == f"{err.splitlines()[0]}\n" and message in err and "Traceback" not in err


def test_a_value_argparse_refuses_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["counterexamples", "encoder-digits", "--per-region", "many"])[0] == 2
    assert "argument --per-region: invalid int value: 'many'" in capsys.readouterr().err


def test_an_unknown_model_exits_2(models_dir: Path) -> None:
    code, _, err = _run(["counterexamples", "nope"])
    assert code == 2 and err.startswith("error: ") and "no checkpoint" in err


def test_the_help_documents_the_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["counterexamples", "--help"])[0] == 0
    help_text = capsys.readouterr().out
    assert "exit status: 0 the search ran, whether or not it found weak regions" in help_text
    assert "2 bad arguments" in help_text and "--per-region" in help_text


def test_eval_adds_the_probes_apart_and_keeps_its_numbers(tiny: str) -> None:
    code, out, err = _run(["eval", tiny, "--json"])
    assert code == 0, err
    data = json.loads(out)
    gen = data.pop("generalisation")
    ck = read_checkpoint(tiny)
    run, _ = ck.build_run()
    assert run.test_split is not None
    task = run.config.dataset.task
    probe_generalisation(run.model, task)  # probing first changes nothing the report measures
    expected = json.loads(json.dumps(build_report(run.model, task, "test", run.test_split,
                                                  train=run.train_split).to_dict(max_mistakes=10)))
    assert data == expected  # every existing key, unchanged: accuracy, slices, mistakes …
    assert gen["outside_training_task"] is True
    assert [p["name"] for p in gen["probes"]] == ["more_args", "fewer_args", "deeper_nesting"]
    assert all(p["outside_training_task"] and p["n"] > 0 for p in gen["probes"])
    assert gen["skipped"][0]["name"] == "wider_values" and "encoder" in gen["skipped"][0]["reason"]


def test_eval_text_has_a_labelled_section_after_the_report(tiny: str) -> None:
    code, out, _ = _run(["eval", tiny])
    assert code == 0
    title = "outside the training task (generalisation probes; not part of the accuracy above):"
    head, _, section = out.partition(title)
    assert "accuracy" in head and "by operation:" in head and section
    lines = section.strip("\n").splitlines()
    assert lines[0].lstrip().startswith("more arguments") and "4 to 10 arguments (trained: at most 3)" in lines[0]
    assert any(line.lstrip().startswith("by arguments: 4:") for line in lines)
    assert lines[-1].lstrip().startswith("larger numbers") and "skipped: an encoder answers" in lines[-1]
