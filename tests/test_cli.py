"""The headless ``workbench`` command: train, eval, predict, models, and their error paths."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.train.checkpoint import read_checkpoint, save_checkpoint
from core.train.run import Run
from tests.conftest import tiny_config
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
    # the accuracy stored with the model is the one an evaluation of its test split finds
    code, out, _ = _run(["eval", "tiny", "--json"])
    report = json.loads(out)
    assert code == 0 and info[0]["metrics"]["test_accuracy"] == pytest.approx(report["accuracy"])
    # and so is its lowest slice, which the model list shows beside it
    assert info[0]["metrics"]["test_min_slice_accuracy"] == pytest.approx(report["min_slice_accuracy"])
    code, out, _ = _run(["models"])
    assert f"(slices ≥ {report['min_slice_accuracy']:.1%})" in out.splitlines()[0]


def test_train_progress_is_plain_lines_when_not_a_terminal(models_dir: Path) -> None:
    code, out, err = _run(["train", *TINY, "--epochs", "1", "--out", "plain", "--json"])
    assert code == 0
    assert "\r" not in err and "step 10/10" in err
    summary = json.loads(out)
    assert summary["name"] == "plain" and summary["steps"] == 10 and summary["state"] == "finished"


def test_resume_continues_the_saved_run(trained: str) -> None:
    code, out, err = _run(["train", "--resume", "tiny", "--json"])
    assert code == 0, err
    # the saved run had finished its epochs: resuming finds nothing left, keeps the step count, and says so
    assert json.loads(out)["steps"] == 30
    assert "tiny has finished its 3 epochs: nothing left to train" in err


def _saved_state(name: str) -> tuple[int, int, int, int]:
    """(step, epoch, the config's epochs, the schedule's total_steps) of a saved checkpoint."""
    ck = read_checkpoint(name)
    return int(ck.state["step"]), int(ck.state["epoch"]), ck.config.epochs, ck.config.optimizer.total_steps


def test_resume_with_epochs_trains_up_to_that_many_epochs_in_total(models_dir: Path) -> None:
    code, _, err = _run(["train", *TINY, "--schedule", "cosine", "--epochs", "1", "--out", "grow"])
    assert code == 0, err
    assert _saved_state("grow") == (10, 1, 1, 10)  # 320 examples / batch 32 = 10 steps per epoch
    code, out, err = _run(["train", "--resume", "grow", "--epochs", "2", "--json"])
    assert code == 0, err
    summary = json.loads(out)
    assert summary["steps"] == 20 and summary["state"] == "finished"  # exactly one more epoch of steps
    assert "grow: 1 of 1 epochs done; training up to 2 epochs in total" in err
    # the recipe now says 2 epochs, and the cosine schedule spans them (its decay ends at the new last step)
    assert _saved_state("grow") == (20, 2, 2, 20)


def test_resume_of_an_interrupted_run_continues_where_it_stopped(models_dir: Path) -> None:
    run = Run(tiny_config(epochs=3))  # same data and model sizes as TINY: 10 steps per epoch
    for _ in range(15):  # stopped half way through its second epoch
        run.train_step()
    save_checkpoint(run, "halfway")
    code, out, err = _run(["train", "--resume", "halfway", "--json"])
    assert code == 0, err
    assert json.loads(out)["steps"] == 30 and "nothing left" not in err
    assert _saved_state("halfway")[:3] == (30, 3, 3)

    save_checkpoint(run, "halfway")  # the run object is still at step 15
    code, out, err = _run(["train", "--resume", "halfway", "--epochs", "5", "--json"])
    assert code == 0, err
    assert json.loads(out)["steps"] == 50 and _saved_state("halfway")[:3] == (50, 5, 5)


def test_resume_refuses_a_total_it_has_already_reached(models_dir: Path) -> None:
    run = Run(tiny_config(epochs=3))
    for _ in range(15):  # one epoch done, half of the second
        run.train_step()
    save_checkpoint(run, "halfway")
    for epochs in ("1", "0"):
        code, out, err = _run(["train", "--resume", "halfway", "--epochs", epochs])
        assert code == 2 and out == ""
        assert err == ("error: halfway has already trained 1 epoch: --epochs is the total to train up to, so give "
                       "more than 1 (e.g. --epochs 4)\n")
    assert _saved_state("halfway")[0] == 15  # nothing was trained or saved
    code, out, _ = _run(["train", "--resume", "halfway", "--epochs", "2", "--json"])  # the epoch under way
    assert code == 0 and json.loads(out)["steps"] == 20


def test_resume_says_which_options_it_ignores(trained: str) -> None:
    code, _, err = _run(["train", "--resume", "tiny", "--lr", "0.5", "--layers", "4", "--epochs", "4"])
    assert code == 0
    assert "warning: ignored with --resume: --lr, --layers (a resumed run keeps its own settings" in err
    ck = read_checkpoint("tiny")
    assert ck.config.optimizer.lr == 3e-3 and ck.config.model.n_layers == 1 and ck.config.epochs == 4


def test_help_explains_resume_with_epochs() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):  # argparse prints the help to sys.stdout
        assert main(["train", "--help"]) == 0
    text = " ".join(out.getvalue().split())
    assert "--resume NAME continue a saved run where it stopped, with its own settings; with --epochs N, train it " \
           "up to N epochs in total" in text
    assert "--epochs N passes over the training split; with --resume, the total the run continues up to" in text


def test_until_val_acc_stops_early(models_dir: Path) -> None:
    code, out, _ = _run(["train", *TINY, "--epochs", "50", "--eval-every", "5", "--until-val-acc", "0.3",
                         "--out", "early", "--json"])
    s = json.loads(out)
    assert code == 0 and s["state"] == "paused" and s["steps"] < 500 and "validation accuracy" in s["reason"]


def test_predict_answers_good_lines_and_reports_bad_ones(trained: str) -> None:
    code, out, err = _run(["predict", "tiny", "-"], stdin="Max(3, 7, 2)\nFoo(1)\nmin ( 1 , 2 , 3 )\n")
    assert code == 2  # one bad line: bad input, as the README says; the good lines are still answered
    lines = out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("Max(3, 7, 2) → ") and lines[1].startswith("Min(1, 2, 3) → ")
    assert "unknown operation 'Foo'" in err and err.count("\n") == 1


def test_predict_json(trained: str) -> None:
    code, out, _ = _run(["predict", "tiny", "Max(3, 7, 2)", "Max(3, 7)", "--json"])
    assert code == 2
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
    assert lines[2].startswith("nested-0-99 ") and lines[2].endswith("[shipped]")
    assert lines[3].startswith("nested-digits ") and lines[3].endswith("[shipped]")
    assert lines[4] == f"your models: {models_dir}" and lines[5].startswith("shipped (read-only): ")


def test_models_marks_the_shipped_ones(trained: str) -> None:
    code, out, _ = _run(["models"])
    first = out.splitlines()[0]
    assert code == 0 and first.startswith("tiny ") and "[shipped]" not in first
    code, out, _ = _run(["models", "--json"])
    assert [(i["name"], i["shipped"]) for i in json.loads(out)] == [("tiny", False), ("decoder-0-99", True),
                                                                    ("encoder-digits", True), ("nested-0-99", True),
                                                                    ("nested-digits", True)]


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


@pytest.mark.parametrize(("args", "message"), [
    (["--until-val-acc", "2"], "--until-val-acc is a validation accuracy between 0 and 1"),
    (["--threads", "100000"], "--threads must be between 1 and 256"),
    (["--threads", "0"], "--threads must be between 1 and 256"),
    (["--out", "name\n"], "invalid checkpoint name"),
])
def test_train_refuses_bad_values_before_any_work(models_dir: Path, args: list[str], message: str) -> None:
    code, _, err = _run(["train", *TINY, *args])
    assert code == 2 and message in err and "Traceback" not in err
    assert not models_dir.exists() or not any(models_dir.iterdir())  # nothing trained, nothing saved


def test_a_checkpoint_name_with_a_trailing_newline_is_refused() -> None:
    from core.errors import CheckpointError
    from core.train.checkpoint import checkpoint_dir

    with pytest.raises(CheckpointError, match="invalid checkpoint name"):
        checkpoint_dir("good-name\n")
    assert checkpoint_dir("good-name").name == "good-name"


def test_predict_works_on_an_ascii_terminal_and_with_bad_input_bytes() -> None:
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    run = subprocess.run([sys.executable, "-m", "workbench", "predict", "encoder-digits", "-"],
                         input=b"Max(3, 7, 2)\nMin(\xff\xfe 1, 2)\n", capture_output=True, env=env, timeout=60)
    assert b"Traceback" not in run.stderr, run.stderr
    assert run.stdout.startswith(b"Max(3, 7, 2) \\u2192 7")  # the arrow escaped, the answer there
    assert b"error:" in run.stderr and run.returncode == 2  # the undecodable line is one error, not a crash


def test_a_huge_input_is_not_echoed_whole(models_dir: Path) -> None:
    code, _, err = _run(["predict", "encoder-digits", "Max(" + "1," * 100_000])
    assert code == 2 and len(err) < 1_000 and "characters)" in err


def test_predict_takes_options_between_the_name_and_the_expressions(
        trained: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["predict", "tiny", "--json", "Max(3, 7, 2)", "Min(1, 2, 3)"])
    assert code == 0 and [json.loads(x)["truth"] for x in out.splitlines()] == [7, 1]
    code, _, _ = _run(["predict", "tiny", "Max(3, 7, 2)", "--bogus"])
    assert code == 2 and "unrecognized arguments: --bogus" in capsys.readouterr().err  # argparse's own line


def test_no_mouse_works_without_the_app_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import workbench.cli as cli

    calls: list[bool] = []
    monkeypatch.setattr(cli, "cmd_app", lambda mouse=True: calls.append(mouse) or 0)
    assert _run(["--no-mouse"])[0] == 0 and _run([])[0] == 0 and _run(["app", "--no-mouse"])[0] == 0
    assert calls == [False, True, False]


def test_train_from_a_preset_with_an_option_overridden(models_dir: Path) -> None:
    code, out, err = _run(["train", "--preset", "sum", "--n-train", "500", "--epochs", "1", "--d-model", "16",
                           "--json"])
    assert code == 0, err
    name = json.loads(out)["name"]
    assert name == "encoder-sum-0-9-2to3args"
    config = json.loads((models_dir / name / "config.json").read_text())["run"]
    assert config["dataset"]["task"]["operations"] == ["Sum"] and config["dataset"]["n_train"] == 500
    code, _, err = _run(["train", "--preset", "nope"])
    assert code != 0 and "unknown preset 'nope'" in err and "grokking" in err
