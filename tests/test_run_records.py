"""Run records: written as a run trains, readable after a crash, listed and compared by the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from core.data.dataset import DatasetConfig
from core.train.records import METRICS_FILE, RUN_FILE, RunRecorder, list_runs, read_run, read_series
from core.train.run import Run, RunConfig
from core.train.run_comparison import aligned, common_steps, config_differences, value_at
from core.train.session import TrainingSession
from workbench.cli import main

TINY = dict(d_model=16, n_layers=1, n_heads=2, d_ff=32)


def _run(epochs: int = 2, lr: float = 1e-3) -> Run:
    from core.optim.config import OptimizerConfig
    return Run(RunConfig.create(DatasetConfig(n_train=320, n_val=64, n_test=64), epochs=epochs,
                                optimizer=OptimizerConfig(lr=lr), **TINY))


def test_a_session_records_its_steps_evaluations_edits_and_end(tmp_path: Path) -> None:
    run = _run()
    session = TrainingSession(run, recorder=RunRecorder.for_run(run, "test", root=tmp_path))
    session.start_thread()
    session.step(5)
    session.settle()
    session.set_learning_rate(3e-3)
    session.start()
    session.wait_for_state("finished")
    assert session.close()
    (record,), warnings = list_runs(tmp_path)
    assert not warnings and record.status == "finished" and record.meta["steps"] == run.step == 20
    assert record.meta["edits"] == [{"step": 5, "field": "lr", "value": 3e-3}]
    assert record.meta["best_val_accuracy"] == max(read_series(record.dir)["val/accuracy"][1])
    steps, losses = read_series(record.dir)["train/loss"]
    assert steps == list(range(1, 21)) and len(losses) == 20  # every step, in order
    assert record.meta["task"].startswith("First/Second") and "16" in record.meta["model"]


def test_a_session_that_takes_no_step_leaves_no_record(tmp_path: Path) -> None:
    run = _run()
    session = TrainingSession(run, recorder=RunRecorder.for_run(run, "test", root=tmp_path))
    session.start_thread()
    assert session.close()
    assert list_runs(tmp_path) == ([], [])


def test_a_record_cut_off_mid_write_is_still_read(tmp_path: Path) -> None:
    recorder = RunRecorder({"seed": 0}, "test", root=tmp_path)
    for step in range(1, 6):
        recorder.step(step, {"train/loss": 1.0 / step})
    recorder.flush(force=True)
    with open(recorder.dir / METRICS_FILE, "a", encoding="utf-8") as f:
        f.write('{"step":6,"train/lo')  # the process died in the middle of a line
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / RUN_FILE).write_text('{"format": "llmlearn-run", "id"')  # never written atomically
    runs, warnings = list_runs(tmp_path)
    assert [r.id for r in runs] == [recorder.id] and len(warnings) == 1 and "broken" in warnings[0]
    assert read_series(recorder.dir)["train/loss"] == ([1, 2, 3, 4, 5], [1.0, 0.5, 1 / 3, 0.25, 0.2])


def test_a_killed_training_process_leaves_a_readable_record_marked_interrupted(tmp_path: Path) -> None:
    env = {**os.environ, "LLMLEARN_DATA": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "train", "--epochs", "500", "--out", "killed"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            runs, _ = list_runs(tmp_path / "runs")
            if runs and runs[0].meta.get("steps", 0) > 200:
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)  # no handler runs: the record is as the crash left it
    finally:
        proc.wait(10)
    (record,), warnings = list_runs(tmp_path / "runs")
    assert not warnings and record.status == "interrupted"
    steps, _ = read_series(record.dir)["train/loss"]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) > 200  # every complete line, in order
    assert read_run(record.dir).meta["steps"] <= steps[-1] + 1_000


def test_comparison_aligns_runs_of_different_lengths_on_steps() -> None:
    short = ([1, 2, 3, 4], [4.0, 3.0, 2.0, 1.0])
    long_every_2 = ([2, 4, 6, 8], [8.0, 6.0, 4.0, 2.0])  # recorded every 2nd step, twice as long
    assert common_steps([short, long_every_2], 4) == [1, 3, 6, 8]
    assert aligned([short, long_every_2], [2, 4, 6]) == [[3.0, 8.0], [1.0, 6.0], [None, 4.0]]
    assert value_at(long_every_2, 5) == 6.0 and value_at(long_every_2, 1) is None
    diffs = config_differences([{"optimizer": {"lr": 0.001, "name": "adam"}, "seed": 0},
                                {"optimizer": {"lr": 0.003, "name": "adam"}, "seed": 0, "extra": [1, 2]}])
    assert diffs == {"optimizer.lr": [0.001, 0.003], "extra": [None, (1, 2)]}


def test_the_runs_command_lists_shows_and_compares(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    for lr in (1e-3, 3e-3):
        assert main(["train", "--epochs", "1", "--n-train", "320", "--d-model", "16", "--lr", str(lr)]) == 0
    capsys.readouterr()
    assert main(["runs", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["status"] for r in listed] == ["finished", "finished"] and listed[0]["source"] == "cli"
    assert main(["runs", "--sort", "best"]) == 0
    text = capsys.readouterr().out
    assert "best val" in text and "2 runs" in text
    ids = [r["id"] for r in listed]
    assert main(["runs", *ids, "--json"]) == 0
    compared = json.loads(capsys.readouterr().out)
    assert set(compared["differences"]) == {"optimizer.lr"}
    assert main(["runs", ids[0]]) == 0 and "saved" in capsys.readouterr().out
    assert main(["runs", "nope"]) == 2 and "no run with id 'nope'" in capsys.readouterr().err
    assert main(["runs", "--filter", "Sum"]) == 0 and "no recorded runs matching" in capsys.readouterr().out


def test_the_record_is_rewritten_atomically_without_a_stalling_fsync(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import core.atomic as atomic

    synced: list[object] = []
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: synced.append(fd))
    target = tmp_path / "run.json"
    atomic.atomic_write_text(target, "{}\n", durable=False)
    assert target.read_text() == "{}\n" and synced == [] and [p.name for p in tmp_path.iterdir()] == ["run.json"]
    atomic.atomic_write_text(target, "{ }\n")  # the default (checkpoints, datasets): file and folder fsynced
    assert target.read_text() == "{ }\n" and len(synced) == 2


def test_settings_are_shown_as_a_person_reads_them() -> None:
    """The comparison printed Python: "operations #1 ('Sum',) #2 ('Sort',)", "n_train #1 884 #2 30000"."""
    from core.train.run_comparison import setting_text

    assert setting_text(("Sum",)) == "Sum" and setting_text(["Sum", "Sort"]) == "Sum, Sort"
    assert setting_text(30000) == "30,000" and setting_text(0.002) == "0.002" and setting_text(1e-6) == "1e-06"
    assert setting_text(None) == "–" and setting_text(True) == "yes" and setting_text("adamw") == "adamw"
