"""The worker-thread session: commands at step boundaries, events out, exact continuation."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from core.errors import CheckpointError, ConfigError
from core.probe.inference import predict
from core.train import session as session_module
from core.train.events import (
    Cause,
    DivergenceEvent,
    EditEvent,
    ErrorEvent,
    EvalEvent,
    StateEvent,
    StepEvent,
    UntilMetEvent,
)
from core.train.history import MetricHistory
from core.train.run import Run
from core.train.run_until import RunUntil
from core.train.session import TrainingSession
from tests.conftest import tiny_config


def _session(**kw: object) -> TrainingSession:
    s = TrainingSession(Run(tiny_config(**kw)))  # type: ignore[arg-type]
    s.start_thread()
    s.wait_for_state("idle")
    return s


def _steps(events: list) -> list[int]:  # type: ignore[type-arg]
    return [e.step for e in events if isinstance(e, StepEvent)]


def _losses_of_plain_loop(n: int, edits: dict[int, float] | None = None) -> tuple[list[float], np.ndarray]:
    run = Run(tiny_config())
    losses = []
    for _ in range(n):
        if edits and run.step in edits:
            run.set_learning_rate(edits[run.step])
        losses.append(run.train_step().loss)
    return losses, run.model.params.data.copy()


def test_step_n_moves_exactly_n_steps_then_pauses() -> None:
    s = _session()
    try:
        s.step(1)
        s.settle()
        assert s.run.step == 1
        s.step(5)
        s.settle()
        assert s.run.step == 6
        assert _steps(s.drain()) == [1, 2, 3, 4, 5, 6]
    finally:
        assert s.close()


def test_pause_resume_continues_exactly_like_an_uninterrupted_loop() -> None:
    expected_losses, expected_weights = _losses_of_plain_loop(40)
    s = _session()
    try:
        s.step(7)
        s.settle()
        s.clone_model()  # a probe in between must not disturb the run
        s.parameter("head.w")
        s.step(13)
        s.settle()
        s.run_until(RunUntil(step=40))
        s.start()
        s.settle()
        events = s.drain()
        losses = [e.loss for e in events if isinstance(e, StepEvent)]
        assert s.run.step == 40
        assert losses == expected_losses  # bit-identical
        assert np.array_equal(s.run.model.params.data, expected_weights)
    finally:
        s.close()


def test_learning_rate_edit_applies_from_the_next_step_and_is_reproducible() -> None:
    expected_losses, expected_weights = _losses_of_plain_loop(30, edits={10: 5e-4})
    s = _session()
    try:
        s.step(10)
        s.settle()
        s.set_learning_rate(5e-4)
        s.step(20)
        s.settle()
        events = s.drain()
        lrs = {e.step: e.lr for e in events if isinstance(e, StepEvent)}
        assert lrs[10] == pytest.approx(3e-3) and lrs[11] == pytest.approx(5e-4)
        edits = [e for e in events if isinstance(e, EditEvent)]
        assert edits == [EditEvent(10, "lr", 5e-4)]
        assert s.run.edits == [{"step": 10, "field": "lr", "value": 5e-4}]
        assert [e.loss for e in events if isinstance(e, StepEvent)] == expected_losses
        assert np.array_equal(s.run.model.params.data, expected_weights)
        assert s.history.marks == [(10, "lr=0.0005")]
    finally:
        s.close()


def test_run_until_validation_accuracy_and_loss() -> None:
    s = _session(eval_every=5, epochs=50)
    try:
        s.run_until(RunUntil(val_accuracy=0.5))
        s.start()
        s.settle()
        assert s.last_eval is not None and s.last_eval.accuracy >= 0.5
        assert s.run.step % 5 == 0
        s.run_until(RunUntil(loss=10.0))  # already true: pauses once 20 losses are averaged
        s.start()
        s.settle()
        reasons = [e.reason for e in s.drain() if isinstance(e, StateEvent)]
        assert any("validation accuracy" in r for r in reasons)
        assert any("training loss" in r for r in reasons)
    finally:
        s.close()


def test_evaluation_events_carry_per_operation_accuracy() -> None:
    s = _session(eval_every=4)
    try:
        s.step(8)
        s.settle()
        evals = [e for e in s.drain() if isinstance(e, EvalEvent)]
        assert [e.step for e in evals] == [4, 8]
        assert set(evals[0].accuracy_by_op) == {"First", "Second", "Last", "Max", "Min"}
    finally:
        s.close()


def test_non_finite_loss_pauses_and_keeps_the_good_weights() -> None:
    s = _session()
    try:
        s.step(3)
        s.settle()
        good = s.run.model.params.data.copy()
        # Sabotage: make the next forward pass overflow.
        s.request(lambda run: run.model.params["head.w"].value.__setitem__(Ellipsis, np.float32(1e38)))
        s.start()
        s.settle()
        events = s.drain()
        div = [e for e in events if isinstance(e, DivergenceEvent)]
        assert len(div) == 1 and "skipped" in div[0].message
        data = s.run.model.params.data
        head = s.run.model.params["head.w"]
        assert np.array_equal(np.delete(data, np.s_[head.offset : head.offset + head.size]),
                              np.delete(good, np.s_[head.offset : head.offset + head.size]))
        assert s.run.step == 3  # the bad update was not applied
    finally:
        s.close()


def test_gradient_spike_condition_pauses() -> None:
    s = _session(epochs=50)
    try:
        s.run_until(RunUntil(grad_spike=1e-9))  # every step after the first 10 is a "spike"
        s.start()
        s.settle()
        assert s.run.step == 11
        assert any("spiked" in e.reason for e in s.drain() if isinstance(e, StateEvent))
    finally:
        s.close()


def test_an_exception_in_the_worker_becomes_an_error_event() -> None:
    s = _session()
    try:
        s.request(lambda run: 1 / 0)
        events = []
        for _ in range(500):
            events += s.drain()
            if any(isinstance(e, ErrorEvent) for e in events):
                break
            s.settle()
        errors = [e for e in events if isinstance(e, ErrorEvent)]
        assert errors and "ZeroDivisionError" in errors[0].message and errors[0].traceback
        assert s.alive  # the worker survived
        s.step(2)
        s.settle()
        assert s.run.step == 2
    finally:
        s.close()


def test_finishing_all_epochs_and_stop() -> None:
    s = _session(epochs=2)
    try:
        s.start()
        assert s.settle() == "finished"
        assert s.run.step == 2 * s.run.steps_per_epoch
        s.start()  # nothing left to do: stays finished
        s.step(1)
    finally:
        assert s.close(timeout=2)
    assert s.state == "stopped" and not s.alive


def test_stop_while_running_ends_the_thread_quickly() -> None:
    s = _session(epochs=1000)
    s.start()
    s.wait_for_state("running")
    assert s.close(timeout=1.0)


def test_pace_limits_steps_per_second() -> None:
    s = _session(epochs=100)
    try:
        s.set_pace(50.0)
        s.start()
        import time

        time.sleep(0.4)
        s.pause()
        s.settle()
        assert 10 <= s.run.step <= 30
    finally:
        s.close()


def test_bad_commands_are_refused_with_clear_errors() -> None:
    s = TrainingSession(Run(tiny_config()))
    with pytest.raises(ConfigError, match="lr must be a finite number"):
        s.set_learning_rate(float("nan"))
    with pytest.raises(ConfigError, match="positive integer"):
        s.step(0)
    with pytest.raises(ConfigError, match="pace"):
        s.set_pace(-1)
    with pytest.raises(ConfigError, match="run-until"):
        RunUntil(val_accuracy=float("inf"))


def test_history_stays_bounded_and_events_are_dropped_not_blocking() -> None:
    from core.train.history import MetricHistory

    h = MetricHistory(capacity=100)
    for step in range(1, 100_001):
        h.add(step, {"loss": 1.0 / step, "bad": float("nan") if step % 7 == 0 else 1.0})
    steps, values = h.points("loss")
    assert len(steps) <= 101 and steps[-1] == 100_000
    assert values[0] > values[-1]
    assert h.series["bad"].n_nonfinite == 100_000 // 7
    assert all(np.isfinite(h.points("bad")[1]))


def test_a_run_is_reproduced_from_its_seed_and_edit_record() -> None:
    s = _session()
    try:
        s.step(5)
        s.settle()  # commands apply at the next step boundary, so wait for the steps to be taken
        s.set_learning_rate(1e-3)
        s.set_optimizer_option("weight_decay", 0.01)
        s.step(7)
        s.settle()
        s.set_learning_rate(2e-3)
        s.step(4)
        s.settle()
        record = list(s.run.edits)
        assert [e["step"] for e in record] == [5, 5, 12]
        replayed = Run.replay(s.run.config, record, steps=16)
        assert np.array_equal(replayed.model.params.data, s.run.model.params.data)
    finally:
        s.close()


def test_probe_answers_on_current_weights_without_disturbing_the_run() -> None:
    expected_losses, _ = _losses_of_plain_loop(20)
    s = _session()
    try:
        s.step(10)
        s.settle()
        before = s.run.model.params.data.copy()
        (good, bad) = predict(s.clone_model(), s.run.config.dataset.task, ["Max(3, 7, 2)", "Max(3, 7"])
        assert good.error is None and good.truth == 7 and len(good.attention) == 1
        assert good.attention[0].shape == (2, 8, 8) and np.allclose(good.attention[0].sum(-1), 1.0)
        assert bad.error and "column" in bad.error
        assert np.array_equal(s.run.model.params.data, before)
        snap = s.parameter("blocks.0.attn.qkv.w")
        assert snap.value.shape == (16, 48) and set(snap.optimizer_state) == {"m", "v"}
        assert snap.last_update_ratio > 0
        s.step(10)
        s.settle()
        assert [e.loss for e in s.drain() if isinstance(e, StepEvent)] == expected_losses
    finally:
        s.close()


def test_save_between_steps_reports_a_checkpoint_event(models_dir) -> None:  # type: ignore[no-untyped-def]
    from core.train.checkpoint import read_checkpoint
    from core.train.events import CheckpointEvent

    s = _session()
    try:
        s.step(4)
        s.settle()
        s.save("from-session")
        s.settle()
        events = [e for e in s.drain() if isinstance(e, CheckpointEvent)]
        assert events and events[0].name == "from-session" and events[0].step == 4
        assert read_checkpoint("from-session").state["step"] == 4
        with pytest.raises(CheckpointError, match="invalid checkpoint name"):
            s.save("../bad")
    finally:
        s.close()


def test_predict_restores_the_decoder_mode() -> None:
    from core.probe.inference import predict

    run = Run(tiny_config(kind="decoder"))
    run.model.eval()
    (r,) = predict(run.model, run.config.dataset.task, ["Max(12, 7)"])
    assert not run.model.training and r.error is None and len(r.steps) >= 1


def _hold_worker(s: TrainingSession) -> threading.Event:
    """Keep the worker busy inside a request until the returned event is set, so commands pile up."""
    gate, inside = threading.Event(), threading.Event()

    def block(run: Run) -> None:
        inside.set()
        gate.wait(10)

    s.request(block)
    assert inside.wait(10)
    return gate


def test_step_commands_add_up_when_they_arrive_together() -> None:
    s = _session()
    try:
        gate = _hold_worker(s)
        for _ in range(5):
            s.step(1)  # five quick F7 presses, all queued before the first step runs
        gate.set()
        s.settle()
        assert s.run.step == 5
        assert _steps(s.drain()) == [1, 2, 3, 4, 5]
    finally:
        assert s.close()


def test_a_step_command_during_an_open_ended_run_means_n_more_steps() -> None:
    s = _session(epochs=50)
    try:
        gate = _hold_worker(s)
        s.start()
        s.step(3)
        gate.set()
        s.settle()
        assert s.run.step == 3
        states = [e for e in s.drain() if isinstance(e, StateEvent)]
        assert states[-1].state == "paused" and states[-1].cause is Cause.BUDGET
    finally:
        assert s.close()


def test_a_met_condition_is_an_event_of_its_own_and_is_cleared() -> None:
    s = _session(epochs=50)
    try:
        s.run_until(RunUntil(step=7))
        s.start()
        s.settle()
        assert s.run.step == 7
        events = s.drain()
        met = [e for e in events if isinstance(e, UntilMetEvent)]
        assert len(met) == 1 and met[0].condition == "step" and met[0].step == 7
        last = [e for e in events if isinstance(e, StateEvent)][-1]
        assert last.cause is Cause.UNTIL and last.state == "paused"
        s.step(3)  # the condition does not carry on: the next steps run
        s.settle()
        assert s.run.step == 10
        assert not [e for e in s.drain() if isinstance(e, UntilMetEvent)]
    finally:
        assert s.close()


def test_step_events_are_dropped_past_the_limit_but_nothing_else_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_module, "MAX_PENDING_EVENTS", 5)
    s = _session(epochs=50)
    try:
        s.step(40)
        s.settle()
        events = s.drain()
        steps = _steps(events)
        assert s.dropped_events == 40 - len(steps) and s.dropped_events > 0
        assert steps == sorted(steps) and len(steps) < 40
        states = [e for e in events if isinstance(e, StateEvent)]
        assert states[-1].state == "paused" and states[-1].step == 40  # state events are never dropped
        hist_steps, _ = s.history.points("train/loss")
        assert hist_steps == list(range(1, 41))  # the history has every step
    finally:
        assert s.close()


def test_pace_spaces_the_steps_by_their_own_timestamps() -> None:
    s = _session(epochs=50)
    try:
        sent = time.monotonic()
        s.set_pace(40.0)
        s.step(9)
        s.settle()
        times = [e.time for e in s.drain() if isinstance(e, StepEvent)]
        assert len(times) == 9
        # The k-th paced step is due k / pace after the stretch started (which is after ``sent``): a busy
        # machine may make steps late, never early. Asserted on the steps' own timestamps.
        for k, t in enumerate(times):
            assert t - sent >= k / 40.0 - 1e-3, (k, t - sent)
    finally:
        assert s.close()


def test_history_readers_get_consistent_copies_while_the_writer_halves() -> None:
    history = MetricHistory(capacity=8)
    done = threading.Event()
    bad: list[str] = []

    def write() -> None:
        for step in range(1, 8_001):
            history.add(step, {"a": float(step), "b": float(-step)})
        done.set()

    def read() -> None:
        while not done.is_set():
            steps, values = history.points("a")
            if len(steps) != len(values) or steps != sorted(steps):
                bad.append(f"inconsistent copy: {steps} {values}")
            history.to_records()

    threads = [threading.Thread(target=write), threading.Thread(target=read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not bad, bad[:3]
    assert history.points("a")[0][-1] == 8_000 and history.last_step() == 8_000


def test_a_constant_series_stays_exactly_its_value_through_downsampling() -> None:
    """A constant lr of 0.001 must not become 0.0010000000000000005 when buckets are averaged."""
    from core.train.history import Series
    series = Series(capacity=64)
    for step in range(5_000):
        series.add(step, 0.001)
    _, values = series.points()
    assert len(values) < 200 and set(values) == {0.001}


def test_the_epoch_shown_is_the_one_of_the_step_read() -> None:
    import dataclasses

    from core.optim.config import OptimizerConfig
    from tests.conftest import tiny_config

    run = Run(tiny_config(epochs=3))  # 320 examples, batch 32: 10 steps an epoch
    assert [run.epoch_of(s) for s in (0, 1, 9, 10, 11, 29, 30)] == [1, 1, 1, 1, 2, 3, 3]
    for _ in range(11):
        run.train_step()
    assert run.epoch_of(run.step) == run.epoch + 1 == 2  # the 11th step is the second epoch's first
    one_step_an_epoch = Run(dataclasses.replace(tiny_config(epochs=200), optimizer=OptimizerConfig(batch_size=320)))
    assert one_step_an_epoch.steps_per_epoch == 1 and one_step_an_epoch.epoch_of(125) == 125
