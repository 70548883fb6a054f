"""Time travel: log-spaced weight snapshots within a budget, restored bit for bit, diffed by parameter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.data.dataset import DatasetConfig
from core.train.records import RunRecorder, list_runs
from core.train.run import Run, RunConfig
from core.train.session import TrainingSession
from core.train.snapshots import (
    SnapshotError,
    SnapshotKeeper,
    diff_snapshots,
    next_due,
    read_snapshot,
    snapshot_steps,
    write_snapshot,
)

CONFIG = RunConfig.create(DatasetConfig(n_train=320, n_val=64, n_test=64), epochs=3, d_model=16, n_layers=1,
                          n_heads=2, d_ff=32)


def test_snapshots_are_log_spaced() -> None:
    steps = [0]
    while steps[-1] < 1000:
        steps.append(next_due(steps[-1]))
    assert steps[:6] == [0, 1, 2, 4, 8, 12] and len(steps) < 25  # dense early, sparse late


def test_a_restored_snapshot_is_the_weights_of_that_step_bit_for_bit(tmp_path: Path) -> None:
    run = Run(CONFIG)
    session = TrainingSession(run, recorder=RunRecorder.for_run(run, "test", root=tmp_path))
    session.start_thread()
    session.step(8)
    session.settle()
    assert session.close()
    (record,), _ = list_runs(tmp_path)
    assert snapshot_steps(record.dir) == [0, 1, 2, 4, 8]
    at_8 = read_snapshot(record.dir, 8)
    live = run.model.params.state_dict()
    assert set(at_8) == set(live)
    assert all(at_8[k].dtype == live[k].dtype and np.array_equal(at_8[k], live[k]) for k in live)
    replay = Run(CONFIG)  # the same seed: the same weights at every step
    for _ in range(4):
        replay.train_step()
    at_4 = read_snapshot(record.dir, 4)
    assert all(np.array_equal(at_4[k], v) for k, v in replay.model.params.state_dict().items())
    fresh = Run(CONFIG)
    fresh.model.params.load_state_dict(read_snapshot(record.dir, 0))
    assert all(np.array_equal(v, Run(CONFIG).model.params.state_dict()[k])
               for k, v in fresh.model.params.state_dict().items())


def test_the_budget_thins_old_snapshots_and_keeps_the_first_and_last(tmp_path: Path) -> None:
    weights = {"w": np.zeros(256, np.float32)}  # 1 KiB
    keeper = SnapshotKeeper(tmp_path, budget_bytes=8 * 1024)
    for step in range(5000):
        keeper.maybe_take(step, weights)
    kept = snapshot_steps(tmp_path)
    assert kept == keeper.kept and len(kept) <= 8 and kept[0] == 0 and kept[-1] == keeper.kept[-1] > 2000


def test_a_diff_names_the_parameters_that_moved_most(tmp_path: Path) -> None:
    a = {"still": np.ones(4, np.float32), "moved": np.ones(4, np.float32)}
    b = {"still": np.ones(4, np.float32), "moved": np.array([1, 1, 1, 3], np.float32)}
    changes = diff_snapshots(a, b)
    assert [c.name for c in changes] == ["moved", "still"]
    assert changes[0].norm == pytest.approx(2.0) and changes[0].relative == pytest.approx(1.0)
    assert changes[0].max_abs == 2.0 and changes[1].norm == 0.0
    with pytest.raises(SnapshotError, match="different parameters"):
        diff_snapshots(a, {"moved": a["moved"]})
    write_snapshot(tmp_path, 3, a)
    (tmp_path / "snapshots" / "step-00000003.safetensors").write_bytes(b"garbage")
    with pytest.raises(SnapshotError, match="not a readable snapshot"):
        read_snapshot(tmp_path, 3)


def test_the_snapshot_strip_keeps_the_current_step_in_view() -> None:
    from workbench.render.runs import snapshot_strip

    steps = [0, 1, 2, 4, 8, 12, 18, 27, 41, 62, 93, 140, 210, 315, 473, 710, 1065, 1598, 2397, 3596, 5394, 8091]
    last = snapshot_strip(steps, 8091, 60).plain
    assert last.endswith("[8,091] ") and "… " in last and len(last) <= 60
    middle = snapshot_strip(steps, 93, 60).plain
    assert "[93]" in middle and middle.startswith("snapshots …") and middle.endswith("…")
    assert snapshot_strip(steps[:4], 2, 60).plain == "snapshots 0 1 [2] 4 "
