"""The headless ``workbench`` command: train, eval, predict, models, and their error paths."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.cli import main

TINY = ["--n-train", "320", "--n-val", "64", "--n-test", "64", "--d-model", "16", "--layers", "1", "--heads", "2",
        "--d-ff", "32", "--lr", "3e-3"]


def _run(args: list[str], stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(args, stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def trained(models_dir: Path) -> str:
    code, _, err = _run(["train", *TINY, "--epochs", "3", "--out", "tiny"])
    assert code == 0, err
    return "tiny"


def test_train_saves_a_checkpoint_and_reports(trained: str, models_dir: Path) -> None:
    assert (models_dir / "tiny" / "weights.safetensors").exists()
    code, out, _ = _run(["models", "--json"])
    info = json.loads(out)
    assert code == 0 and info[0]["name"] == "tiny" and info[0]["step"] == 30
    assert 0 <= info[0]["metrics"]["test_accuracy"] <= 1


def test_train_progress_is_plain_lines_when_not_a_terminal(models_dir: Path) -> None:
    code, out, err = _run(["train", *TINY, "--epochs", "1", "--out", "plain", "--json"])
    assert code == 0
    assert "\r" not in err and "step 10/10" in err
    summary = json.loads(out)
    assert summary["name"] == "plain" and summary["steps"] == 10 and summary["state"] == "finished"


def test_resume_continues_the_saved_run(trained: str) -> None:
    code, out, err = _run(["train", "--resume", "tiny", "--json"])
    assert code == 0, err
    # the saved run had finished its epochs: resuming finds nothing left, keeps the step count
    assert json.loads(out)["steps"] == 30


def test_until_val_acc_stops_early(models_dir: Path) -> None:
    code, out, _ = _run(["train", *TINY, "--epochs", "50", "--eval-every", "5", "--until-val-acc", "0.3",
                         "--out", "early", "--json"])
    s = json.loads(out)
    assert code == 0 and s["state"] == "paused" and s["steps"] < 500 and "validation accuracy" in s["reason"]


def test_predict_answers_good_lines_and_reports_bad_ones(trained: str) -> None:
    code, out, err = _run(["predict", "tiny", "-"], stdin="Max(3, 7, 2)\nFoo(1)\nmin ( 1 , 2 , 3 )\n")
    assert code == 1  # one bad line
    lines = out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("Max(3, 7, 2) → ") and lines[1].startswith("Min(1, 2, 3) → ")
    assert "unknown operation 'Foo'" in err and err.count("\n") == 1


def test_predict_json(trained: str) -> None:
    code, out, _ = _run(["predict", "tiny", "Max(3, 7, 2)", "Max(3, 7)", "--json"])
    assert code == 1
    rows = [json.loads(x) for x in out.splitlines()]
    assert rows[0]["truth"] == 7 and rows[0]["error"] is None and len(rows[0]["top"]) == 3
    assert "too few arguments" in rows[1]["error"] or "argument" in rows[1]["error"]


def test_eval_reports_accuracy_confusion_and_mistakes(trained: str) -> None:
    code, out, _ = _run(["eval", "tiny"])
    assert code == 0
    assert "accuracy" in out and "by operation:" in out and "confusion" in out
    code, out, _ = _run(["eval", "tiny", "--json", "--split", "val"])
    report = json.loads(out)
    assert report["split"] == "val" and report["n"] == 64
    assert len(report["confusion_matrix"]) == 10 and len(report["confusion_matrix"][0]) == 11
    assert set(report["accuracy_by_operation"]) == {"First", "Second", "Last", "Max", "Min"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["eval", "nope"], "no checkpoint"),
        (["predict", "../etc", "Max(1,2,3)"], "invalid checkpoint name"),
        (["train", "--heads", "3"], "must divide d_model"),
        (["train", "--ops", "Max,Avg"], "Avg"),
        (["train", "--n-train", "0"], "n_train"),
        (["train", "--out", "../escape", "--n-train", "10"], "invalid checkpoint name"),
    ],
)
def test_errors_are_one_line_and_non_zero(models_dir: Path, args: list[str], message: str) -> None:
    code, _, err = _run(args)
    assert code == 2
    assert message in err
    assert err.startswith("error: ") and "Traceback" not in err


def test_bad_option_values_are_usage_errors(models_dir: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "workbench", "train", "--lr", "fast"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "invalid float value" in proc.stderr and "Traceback" not in proc.stderr


def test_models_on_an_empty_directory_lists_the_shipped_ones(models_dir: Path) -> None:
    code, out, err = _run(["models"])
    lines = out.splitlines()
    assert code == 0 and err == ""
    assert lines[0].startswith("decoder-0-99 ") and lines[0].endswith("[shipped]")
    assert lines[1].startswith("encoder-digits ") and lines[1].endswith("[shipped]")
    assert lines[2] == f"your models: {models_dir}" and lines[3].startswith("shipped (read-only): ")


def test_models_marks_the_shipped_ones(trained: str) -> None:
    code, out, _ = _run(["models"])
    first = out.splitlines()[0]
    assert code == 0 and first.startswith("tiny ") and "[shipped]" not in first
    code, out, _ = _run(["models", "--json"])
    assert [(i["name"], i["shipped"]) for i in json.loads(out)] == [("tiny", False), ("decoder-0-99", True),
                                                                    ("encoder-digits", True)]


def test_train_refuses_a_shipped_name_before_training(models_dir: Path) -> None:
    code, _, err = _run(["train", *TINY, "--epochs", "1", "--out", "encoder-digits"])
    assert code == 2 and "'encoder-digits' is a model shipped with the workbench" in err and "step" not in err
    code, _, err = _run(["train", "--resume", "encoder-digits"])  # resuming saves back under its name
    assert code == 2 and "choose another name with --out NAME" in err
    assert not models_dir.exists()


def test_predict_with_a_shipped_model(models_dir: Path) -> None:
    code, out, _ = _run(["predict", "encoder-digits", "Max(3, 7, 2)"])
    assert code == 0 and out.startswith("Max(3, 7, 2) → 7 ✓")


def test_version_prints_the_package_version() -> None:
    import importlib.metadata

    code, out, _ = _run(["--version"])
    assert code == 0 and out == f"workbench {importlib.metadata.version('llmlearn-workbench')}\n"
