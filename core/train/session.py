"""A training session: a ``Run`` trained in a worker thread, steered by commands, observed through events.

    UI / CLI  ──commands──▶  worker thread (owns the Run)  ──events──▶  UI / CLI
                 queue                                       queue

The worker takes one training step at a time. Between steps it applies queued commands (pause, step N,
change the learning rate, …), so every command takes effect at a step boundary and an edit is recorded
with the step it applied from. Metrics go out on an events queue the worker never waits on; a bounded
``MetricHistory`` keeps the curves of runs of any length. Readers that want weights, gradients or a
probe take ``lock`` (held by the worker for the whole of each step), so they never see half an update.
"""

from __future__ import annotations

import math
import queue
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from core.errors import ConfigError
from core.nn.models.factory import Model
from core.train.attention_stats import attention_entropy
from core.train.checkpoint import checkpoint_dir, save_checkpoint
from core.train.evaluation import EvalResult
from core.train.events import (
    Cause,
    CheckpointEvent,
    DivergenceEvent,
    EditEvent,
    ErrorEvent,
    EvalEvent,
    Event,
    SessionState,
    StateEvent,
    StepEvent,
    UntilMetEvent,
)
from core.train.history import MetricHistory
from core.train.records import RunRecorder
from core.train.run import Run, check_option
from core.train.run_until import RunUntil, UntilWatch
from core.train.trainer import StepMetrics

#: Above this many unread events, step events are dropped (the history still has them); others never are.
MAX_PENDING_EVENTS = 10_000

#: What the worker can be told; each takes effect at the next step boundary.
Command = Literal["run", "step", "epoch", "pause", "stop", "edit", "until", "pace", "save", "call"]

__all__ = ["MAX_PENDING_EVENTS", "Command", "ParameterSnapshot", "RunUntil", "TrainingSession"]


@dataclass(frozen=True)
class ParameterSnapshot:
    name: str
    value: np.ndarray
    grad: np.ndarray
    optimizer_state: dict[str, np.ndarray]
    last_update_ratio: float  # ‖Δw‖ / ‖w‖ of the last step


class TrainingSession:
    def __init__(self, run: Run, history_capacity: int = 1000, recorder: RunRecorder | None = None) -> None:
        self.run = run
        self.recorder = recorder  # writes the run's record (``core.train.records``), on the worker thread
        self.events: queue.Queue[Event] = queue.Queue()
        self.history = MetricHistory(history_capacity)
        self.lock = threading.RLock()
        self.dropped_events = 0
        self.last_eval: EvalResult | None = None
        self._commands: queue.Queue[tuple[Command, Any]] = queue.Queue()
        self._state: SessionState = "idle"
        self._budget = 0  # steps left before pausing; −1 = until told otherwise
        self._watch = UntilWatch()
        self._pace: float | None = None  # steps per second, None = full speed
        self._next_time = 0.0  # time.monotonic() at which the next paced step is due
        self._last_eval_step = -1
        self._thread: threading.Thread | None = None
        self._count_lock = threading.Lock()
        self._sent = 0  # commands sent / handled, so ``settle`` knows when all have taken effect
        self._handled = 0
        self._changed = threading.Condition()  # notified on every state change and handled command

    # -- lifecycle --------------------------------------------------------------------------------
    def start_thread(self) -> None:
        """Start the worker (idle until told to run). Safe to call once."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._main, name="training-worker", daemon=False)
        self._thread.start()

    def close(self, timeout: float = 5.0) -> bool:
        """Stop the worker and wait for it; True if it ended within ``timeout``. A step in progress
        finishes first (a step is never cut in half), so a caller that must not have two workers at
        once waits for True — see ``join``."""
        self._send("stop")
        return self.join(timeout)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker thread to end; True once it has (or if it never started)."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- commands (thread-safe; they take effect at the next step boundary) ---------------------------
    def start(self) -> None:
        self._send("run")

    resume = start

    def pause(self) -> None:
        self._send("pause")

    def step(self, n: int = 1) -> None:
        """Take ``n`` more steps, then pause. Step commands add up: five quick ``step(1)`` calls take
        five steps, even when they arrive before the first has run."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"step count must be a positive integer, got {n!r}")
        self._send("step", n)

    def run_epoch(self) -> None:
        self._send("epoch")

    def stop(self) -> None:
        self._send("stop")

    def set_learning_rate(self, lr: float) -> None:
        """Change the base learning rate from the next step on (see ``Run.set_learning_rate``)."""
        self._send("edit", ("lr", check_option("lr", lr)))

    def set_optimizer_option(self, name: str, value: float) -> None:
        """Change weight_decay, clip_norm, momentum, beta1 or beta2 from the next step on."""
        self._send("edit", (name, check_option(name, value)))

    def run_until(self, until: RunUntil) -> None:
        self._send("until", until)

    def set_pace(self, steps_per_second: float | None) -> None:
        if steps_per_second is not None and (not math.isfinite(steps_per_second) or steps_per_second <= 0):
            raise ConfigError(f"pace must be a positive number of steps per second, got {steps_per_second!r}")
        self._send("pace", steps_per_second)

    def save(self, name: str, root: str | None = None) -> None:
        """Save a checkpoint between steps; a ``CheckpointEvent`` (or an ``ErrorEvent``) reports the result.
        The name is checked here, so a bad one fails at once in the caller's thread."""
        checkpoint_dir(name, root)
        self._send("save", (name, root))

    def request(self, fn: Callable[[Run], Any]) -> None:
        """Run ``fn(run)`` on the worker between steps (e.g. save a checkpoint); errors become events."""
        self._send("call", fn)

    def _send(self, name: Command, arg: Any = None) -> None:
        with self._count_lock:
            self._sent += 1
        self._commands.put((name, arg))

    # -- inspection (any thread; consistent because the worker holds ``lock`` during a step) -----------
    def parameter(self, name: str) -> ParameterSnapshot:
        """Copies of one parameter, its gradient and optimizer state, and the size of the last update
        relative to the weights, ‖Δw‖/‖w‖ (the optimizer's own step, without decoupled weight decay)."""
        with self.lock:
            p = self.run.model.params[name]
            opt = self.run.trainer.optimizer
            ratio = float("nan")
            if opt.step_count > 0:
                update = opt.last_update()[p.offset : p.offset + p.size]
                denom = float(np.linalg.norm(p.value))
                ratio = float(np.linalg.norm(update)) / denom if denom > 0 else float("nan")
            return ParameterSnapshot(name, p.value.copy(), p.grad.copy(), opt.state_for(name), ratio)

    def clone_model(self) -> Model:
        """A copy of the model with the current weights, for probes that must not disturb the run."""
        with self.lock:
            return self.run.clone_model()

    # -- the worker -------------------------------------------------------------------------------
    def _emit(self, event: Event) -> None:
        if isinstance(event, StepEvent) and self.events.qsize() > MAX_PENDING_EVENTS:
            self.dropped_events += 1
            return
        self.events.put(event)

    def _set_state(self, state: SessionState, cause: Cause, reason: str = "") -> None:
        self._state = state
        if self.recorder is not None:
            self.recorder.state("diverged" if cause == Cause.DIVERGED else "error" if cause == Cause.ERROR
                                else state)
        self._emit(StateEvent(state, self.run.step, reason, cause))
        self._notify()

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def _main(self) -> None:
        self._set_state("finished" if self.run.finished else "idle", Cause.OPENED, "session opened")
        while True:
            try:
                running = self._budget != 0 and self._state == "running"
                if not running or self._pace is not None:
                    # Idle, or pacing: wait for a command until the next step is due.
                    timeout = None if not running else max(0.0, self._next_time - time.monotonic())
                    try:
                        name, arg = self._commands.get(timeout=timeout)
                    except queue.Empty:
                        pass  # the next paced step is due
                    else:
                        if self._handle(name, arg):
                            return
                        continue
                else:
                    while True:  # apply every command that arrived during the last step
                        try:
                            name, arg = self._commands.get_nowait()
                        except queue.Empty:
                            break
                        if self._handle(name, arg):
                            return
                    if not (self._budget != 0 and self._state == "running"):
                        continue
                self._one_step()
                if self._pace is not None:
                    # The k-th paced step is due at start + k / pace; after a slow step the worker may catch
                    # up by at most a second, never run ahead of the schedule.
                    self._next_time = max(self._next_time + 1.0 / self._pace, time.monotonic() - 1.0)
            except Exception as exc:  # the worker must survive and report anything
                self._report_error(exc)

    def _handle(self, name: Command, arg: Any) -> bool:
        """Apply one command; True means the worker should exit."""
        try:
            return self._apply(name, arg)
        except Exception as exc:  # reported before the command counts as handled
            self._report_error(exc)
            return False
        finally:
            self._handled += 1
            self._notify()

    def _report_error(self, exc: Exception) -> None:
        self._budget = 0
        self._emit(ErrorEvent(f"{type(exc).__name__}: {exc}", traceback.format_exc()))
        self._set_state("paused", Cause.ERROR, f"error: {exc}")

    def _apply(self, name: Command, arg: Any) -> bool:
        run = self.run
        if name == "stop":
            self._budget = 0
            if self.recorder is not None:
                self.recorder.close()
            self._set_state("stopped", Cause.STOPPED, "stopped by request")
            return True
        if name in ("run", "step", "epoch"):
            if run.finished:
                self._set_state("finished", Cause.FINISHED, "all epochs are done")
                return False
            if name == "run":
                self._budget, reason = -1, "started"
            elif name == "step":
                # Steps add up while a step budget is being worked off; during an open-ended run a
                # step command means "n more steps, then pause".
                self._budget = self._budget + arg if self._budget > 0 and self._state == "running" else arg
                reason = f"{self._budget} step{'s' if self._budget != 1 else ''} to take"
            else:
                self._budget, reason = run.steps_per_epoch - run.batch_index, "to the end of this epoch"
            if self._state != "running":
                self._next_time = time.monotonic()  # a paced stretch starts now, with no backlog
            self._set_state("running", Cause.STARTED, reason)
        elif name == "pause":
            self._budget = 0
            if self._state == "running":
                self._set_state("paused", Cause.REQUEST, "paused by request")
        elif name == "edit":
            field, value = arg
            with self.lock:
                run.apply_edit({"field": field, "value": value})
            self.history.mark(run.step, f"{field}={value:g}")
            if self.recorder is not None:
                self.recorder.edit(run.step, field, float(value))
            self._emit(EditEvent(run.step, field, float(value)))
        elif name == "until":
            self._watch.set(arg, run.step)
        elif name == "pace":
            self._pace = arg
            self._next_time = time.monotonic()
        elif name == "save":
            ck_name, root = arg
            metrics = {"val_accuracy": self.last_eval.accuracy if self.last_eval else None, "steps": run.step}
            with self.lock:
                path = save_checkpoint(run, ck_name, root, history=self.history.to_records(), metrics=metrics)
            if self.recorder is not None:
                self.recorder.checkpoint(run.step, ck_name, str(path))
            self._emit(CheckpointEvent(run.step, ck_name, str(path)))
        elif name == "call":
            with self.lock:
                arg(run)
        return False

    def _one_step(self) -> None:
        run = self.run
        epoch = run.epoch
        if run.step == 0 and not self.history.points("weight_norm")[0]:
            self._measure_start()
        with self.lock:
            t0 = time.perf_counter()
            batch = run.next_batch()
            m = run.trainer.train_step(batch)
            elapsed = max(time.perf_counter() - t0, 1e-9)
        self._record_step(m, epoch, batch.n_tokens / elapsed, m.n_examples / elapsed)
        if self._budget > 0:
            self._budget -= 1
        if not m.finite:
            self._budget = 0
            msg = (f"the loss became {m.loss} (gradient norm {m.grad_norm}) at step {m.step}; that update was "
                   "skipped, so the weights are still those of the previous step. Lower the learning rate and "
                   "resume.")
            self._emit(DivergenceEvent(m.step, msg))
            self._set_state("paused", Cause.DIVERGED, "diverged")
            return
        epoch_done = run.epoch != epoch
        every = run.config.eval_every
        if (every and run.step % every == 0) or (not every and epoch_done) or run.finished:
            self._evaluate(epoch)
        if run.finished:
            self._budget = 0
            self._set_state("finished", Cause.FINISHED, f"completed {run.config.epochs:,} epochs")
            return
        ev = self.last_eval
        met = self._watch.check(run.step, m.loss, m.grad_norm, ev.accuracy if ev else None, self._last_eval_step)
        if met is not None:
            self._budget = 0
            self._watch.clear()
            self._emit(UntilMetEvent(run.step, met.condition, met.reason))
            self._set_state("paused", Cause.UNTIL, met.reason)
        elif self._budget == 0:
            self._set_state("paused", Cause.BUDGET, "the steps asked for are done")

    def _record_step(self, m: StepMetrics, epoch: int, tokens_per_s: float, examples_per_s: float) -> None:
        values = {"train/loss": m.loss, "train/accuracy": m.accuracy, "lr": m.lr, "grad_norm": m.grad_norm}
        self.history.add(m.step, values)
        if self.recorder is not None:
            self.recorder.step(m.step, values)
        self._emit(StepEvent(m.step, epoch, m.loss, m.accuracy, m.lr, m.grad_norm, tokens_per_s, examples_per_s,
                             time.monotonic()))

    def _weights_and_attention(self) -> dict[str, float]:
        """The per-evaluation measures that need no labels: each head's attention entropy where the answer
        is read, and ‖w‖ of every parameter together. Called under ``lock``."""
        run = self.run
        values = attention_entropy(run.model, run.val_split) if run.val_split is not None else {}
        values["weight_norm"] = float(np.linalg.norm(run.model.params.data))
        return values

    def _measure_start(self) -> None:
        """The label-free measures at step 0, before the first update: where a curve like a head's entropy
        starts, so a change within the first evaluation interval is seen (it is most often then)."""
        with self.lock:
            values = self._weights_and_attention()
        self.history.add(0, values)
        if self.recorder is not None:
            self.recorder.evaluation(0, values)

    def _evaluate(self, epoch: int) -> None:
        run = self.run
        with self.lock:
            result = run.evaluate("val")
            measures = self._weights_and_attention()
        if result is None:
            return
        self.last_eval = result
        self._last_eval_step = run.step
        ops = run.config.dataset.task.operations
        by_op = {ops[i]: acc for i, acc in result.accuracy_by_op.items()}
        values = {"val/loss": result.loss, "val/accuracy": result.accuracy}
        values.update({f"val/accuracy/{op}": acc for op, acc in by_op.items()})
        values.update(measures)
        self.history.add(run.step, values)
        if self.recorder is not None:
            self.recorder.evaluation(run.step, values)
        self._emit(EvalEvent(run.step, epoch, "val", result.loss, result.accuracy, by_op,
                             dict(result.accuracy_by_nargs)))

    # -- convenience for non-UI callers -----------------------------------------------------------
    def checkpoint_event(self, name: str, path: str) -> None:
        """Report a checkpoint saved by the caller itself (``save`` reports its own). Called between steps
        (the CLI saves while the worker is paused or on its own thread under ``lock``)."""
        if self.recorder is not None:
            self.recorder.checkpoint(self.run.step, name, path)
        self._emit(CheckpointEvent(self.run.step, name, path))

    def drain(self) -> list[Event]:
        """Every event waiting in the queue (non-blocking)."""
        out = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                return out

    def settle(self, timeout: float = 60.0) -> str:
        """Block until every command sent so far has taken effect and the worker is not running
        (for scripts and tests; never call it on a UI event loop); returns the state."""
        return self._wait(lambda: self._handled >= self._sent and self._state != "running", timeout)

    def wait_for_state(self, *states: SessionState, timeout: float = 30.0) -> str:
        """Block until the session is in one of ``states`` (for scripts and tests); returns it."""
        return self._wait(lambda: self._state in states, timeout)

    def _wait(self, done: Callable[[], bool], timeout: float) -> str:
        # Sleeps on a condition the worker notifies, rather than polling: a polling thread would take
        # the GIL from the worker every few milliseconds and slow training down.
        deadline = time.monotonic() + timeout
        with self._changed:
            while not done():
                if not self.alive and self._thread is not None:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"session still {self._state!r} after {timeout} s")
                self._changed.wait(min(left, 0.5))
        return self._state
