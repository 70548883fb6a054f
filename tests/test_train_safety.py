"""``workbench train`` never loses a run and never silently replaces a better checkpoint.

Signals go to a real ``workbench train`` process (SIGTERM, SIGINT twice, kill -9 after a periodic save);
interruptions of the final evaluation and of the save are provoked in-process, at exactly that moment,
by wrapping ``Run.evaluate`` and ``save_checkpoint``. The worse-run rule is tested through the CLI and
on its own (``core.train.checkpoint.compare``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.train.checkpoint import read_checkpoint, save_checkpoint
from core.train.checkpoint.compare import loss_diverged, replacement_verdict
from core.train.run import Run
from tests.conftest import tiny_config
from workbench import cli_train
from workbench.cli import main

TINY = ["--n-train", "320", "--n-val", "64", "--n-test", "64", "--d-model", "16", "--layers", "1", "--heads", "2",
        "--d-ff", "32", "--lr", "3e-3"]
ROOT = Path(__file__).resolve().parent.parent


def _run(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(args, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _weights(models_dir: Path, name: str) -> bytes:
    return (models_dir / name / "weights.safetensors").read_bytes()


@pytest.fixture
def long_train(models_dir: Path) -> Iterator[subprocess.Popen[str]]:
    """A real ``workbench train`` of 20,000 steps (several seconds), saving every 50 steps."""
    env = {**os.environ, "LLMLEARN_MODELS": str(models_dir), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "train", *TINY, "--epochs", "2000",
                             "--save-every-steps", "50", "--out", "long"], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def _wait_for_line(proc: subprocess.Popen[str], text: str) -> list[str]:
    """Read the process's stderr until a line contains ``text`` (the lines read so far)."""
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"no line with {text!r} in:\n{''.join(lines)}")


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    """The rest of its output (stderr first: stdout is one line at the very end) and its exit status."""
    assert proc.stderr is not None and proc.stdout is not None
    err = proc.stderr.read()
    out = proc.stdout.read()
    return proc.wait(timeout=120), out, err


def test_sigterm_mid_run_stops_saves_and_exits_0(long_train: subprocess.Popen[str], models_dir: Path) -> None:
    _wait_for_line(long_train, "saved step")  # training is under way
    long_train.send_signal(signal.SIGTERM)
    code, out, err = _finish(long_train)
    assert code == 0, err
    assert "SIGTERM: stopping after this step, then saving…" in err and "saved → " in err
    ck = read_checkpoint("long")
    assert 0 < int(ck.state["step"]) < 20_000 and ck.metrics["test_accuracy"] is not None
    assert f"after {int(ck.state['step']):,} steps" in out and "interrupted by SIGTERM" in out


def test_two_quick_ctrl_c_still_save(long_train: subprocess.Popen[str], models_dir: Path) -> None:
    _wait_for_line(long_train, "saved step")
    long_train.send_signal(signal.SIGINT)
    long_train.send_signal(signal.SIGINT)  # wherever it lands — training, evaluation or saving — the run is saved
    code, _, err = _finish(long_train)
    assert code == 0, err
    assert "Traceback" not in err and "saved → " in err
    assert 0 < int(read_checkpoint("long").state["step"]) < 20_000


def test_kill_9_leaves_the_last_periodic_save_readable(long_train: subprocess.Popen[str], models_dir: Path) -> None:
    _wait_for_line(long_train, "saved step")  # the progress output says when it saved
    line = _wait_for_line(long_train, "saved step")[-1]
    second = int(line.split("saved step ")[1].split()[0].replace(",", ""))
    assert second >= 100  # one save every 50 steps (made at the first step boundary after the 50th)
    long_train.kill()
    long_train.wait()
    ck = read_checkpoint("long")  # whatever moment the kill hit, a complete checkpoint is there
    assert int(ck.state["step"]) >= second and len(ck.history) > 0


def _interrupting_evaluate(monkeypatch: pytest.MonkeyPatch, times: int = 1) -> list[str]:
    """Make the final evaluation (the only one of the test split) be hit by Ctrl-C ``times`` times."""
    real, calls = Run.evaluate, []

    def evaluate(self: Run, split: str = "val") -> Any:
        if split == "test" and len(calls) < times:
            calls.append(split)
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, handled while this evaluation runs
            for _ in range(times * 1000):  # the handler runs between bytecodes of this loop
                pass
        return real(self, split)

    monkeypatch.setattr(Run, "evaluate", evaluate)
    return calls


def test_ctrl_c_during_the_final_evaluation_saves_without_the_test_metric(
        models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _interrupting_evaluate(monkeypatch)
    code, out, err = _run(["train", *TINY, "--epochs", "2", "--out", "evalcut", "--json"])
    assert calls and code == 0, err
    assert "interrupted during the final evaluation: saving without the test accuracy…" in err
    assert "saved → " in err
    ck = read_checkpoint("evalcut")
    assert int(ck.state["step"]) == 20 and ck.metrics["test_accuracy"] is None
    assert ck.metrics["val_accuracy"] is not None  # from the run's own last validation
    assert json.loads(out)["interrupted"] is True


def test_ctrl_c_during_the_save_is_refused_and_the_save_completes(
        models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _interrupting_evaluate(monkeypatch)
    real = cli_train.save_checkpoint

    def save(*args: Any, **kwargs: Any) -> Path:
        os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C, during the save itself
        for _ in range(1000):
            pass
        return real(*args, **kwargs)

    monkeypatch.setattr(cli_train, "save_checkpoint", save)
    code, _, err = _run(["train", *TINY, "--epochs", "2", "--out", "savecut"])
    assert code == 0, err
    assert "saving, please wait" in err and "saved → " in err
    assert int(read_checkpoint("savecut").state["step"]) == 20


def _good_checkpoint(models_dir: Path) -> bytes:
    code, _, err = _run(["train", *TINY, "--epochs", "30", "--out", "K"])
    assert code == 0, err
    assert read_checkpoint("K").metrics["val_accuracy"] > 0.5
    return _weights(models_dir, "K")


def test_a_worse_run_is_saved_beside_a_better_checkpoint_unless_forced(models_dir: Path) -> None:
    before = _good_checkpoint(models_dir)
    code, out, err = _run(["train", *TINY, "--epochs", "1", "--out", "K", "--json"])
    assert code == 0, err
    assert _weights(models_dir, "K") == before  # not replaced
    assert "note: K has val accuracy" in err and "saved as K-2 instead (--force saves over K)" in err
    assert json.loads(out)["name"] == "K-2" and read_checkpoint("K-2").state["step"] == 10  # the run is kept

    code, _, err = _run(["train", *TINY, "--epochs", "1", "--out", "K", "--force"])
    assert code == 0, err
    assert read_checkpoint("K").state["step"] == 10 and "note:" not in err


def test_a_diverged_but_finite_run_never_replaces_a_good_checkpoint(models_dir: Path) -> None:
    before = _good_checkpoint(models_dir)
    code, out, err = _run(["train", *TINY, "--lr", "10", "--epochs", "5", "--out", "K", "--json"])
    assert code == 0, err  # the weights stayed finite: nothing stopped it
    assert _weights(models_dir, "K") == before
    assert "this run diverged (its training loss ended at" in err and json.loads(out)["name"] == "K-2"


def test_early_periodic_saves_do_not_replace_a_better_checkpoint(
        models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _good_checkpoint(models_dir)
    seen: list[str] = []
    real = cli_train.save_checkpoint

    def save(run: Run, name: str, **kw: Any) -> Path:
        seen.append(name)
        return real(run, name, **kw)

    monkeypatch.setattr(cli_train, "save_checkpoint", save)
    code, _, err = _run(["train", *TINY, "--epochs", "3", "--save-every-steps", "5", "--out", "K"])
    assert code == 0, err
    assert len(seen) > 2 and "K" not in seen and _weights(models_dir, "K") == before
    assert set(seen) == {"K-2"}  # every save of the run goes to one sibling


def test_a_resume_that_made_progress_replaces_its_checkpoint(models_dir: Path) -> None:
    code, _, err = _run(["train", *TINY, "--epochs", "3", "--out", "R"])
    assert code == 0, err
    code, _, err = _run(["train", "--resume", "R", "--epochs", "6"])
    assert code == 0 and "note:" not in err
    assert read_checkpoint("R").state["step"] == 60


def test_the_rule() -> None:
    good = {"val_accuracy": 0.90, "val_loss": 0.3}

    class Existing:  # what the rule reads of a checkpoint
        name, error, metrics, path = "K", None, good, Path("/nowhere")

    ex: Any = Existing()
    assert not replacement_verdict({"val_accuracy": 0.80}, None, ex).replace
    assert replacement_verdict({"val_accuracy": 0.90}, None, ex).replace  # equal is not worse
    assert replacement_verdict({"val_accuracy": 0.89}, None, ex, same_run=True).replace  # noise on a resume
    assert not replacement_verdict({"val_accuracy": 0.80}, None, ex, same_run=True).replace
    assert not replacement_verdict({"val_accuracy": None}, None, ex).replace  # not validated yet
    assert not replacement_verdict({"val_accuracy": 0.99}, "it exploded", ex).replace
    assert replacement_verdict({"val_accuracy": 0.1}, "it exploded", None).replace  # nothing to lose
    assert loss_diverged([2.4] * 20 + [9.0] * 20) and not loss_diverged([0.01] * 20 + [0.05] * 20)


def test_help_documents_the_exit_status_and_saving() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["train", "--help"]) == 0
    text = " ".join(out.getvalue().split())
    assert "exit status: 0 trained and saved (also when stopped early by Ctrl-C or SIGTERM" in text
    assert "--save-every MINUTES" in text and "--force" in text


def test_a_checkpoint_saved_by_a_script_without_metrics_can_be_replaced(models_dir: Path) -> None:
    run = Run(tiny_config(epochs=1))
    save_checkpoint(run, "plain")
    code, _, err = _run(["train", *TINY, "--epochs", "1", "--out", "plain"])
    assert code == 0 and "note:" not in err and read_checkpoint("plain").state["step"] == 10


def test_a_periodic_save_by_time_is_not_asked_for_again_before_its_report(models_dir: Path) -> None:
    """The next time-due save counts from the save itself: asking again a step later, before the main
    thread has reported the first one, saved the same run twice (steps 14,163 and 14,165)."""
    from core.train.session import TrainingSession

    run = Run(tiny_config())
    session = TrainingSession(run)  # no worker thread: a request would only be queued
    saver = cli_train.RunSaver(session, "periodic", False, cli_train.SaveGuard())
    saver.saved_at = 0.0  # the last save long ago: one is due
    saver.maybe_request(1, 0, 60.0)
    assert saver.pending
    saver.periodic(run)  # what the worker does with the request, between two steps
    assert not saver.pending and isinstance(saver.results.get_nowait(), cli_train.Saved)
    saver.maybe_request(3, 0, 60.0)  # two steps later, the report not yet read by the main thread
    assert not saver.pending
