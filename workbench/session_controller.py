"""The session controller: the one object that owns the workbench's current training session.

The App creates it and hands it to the panes that show the run (attributes down); panes never hold or
replace the session themselves, and send commands up through the App's actions.

    Training pane, keys, palette ──actions──▶ App ──▶ SessionController ──commands──▶ TrainingSession
                                                            ▲                         (worker thread)
    panes ◀──attributes── App ◀──messages── poll() ◀──events queue───────────────────────┘
                                     ▲
    build / load / save workers ─────┘ (post_message from their threads)

What it guarantees:
* Building, loading and saving run in thread workers and catch *every* exception: the user sees the
  reason, the app lives on, and the state never stays "building".
* Before a new session starts, the old worker thread has really stopped (``join``), so two training
  threads never run at once; every session it ever started is closed when the app exits.
* A few times a second ``poll`` drains the session's events on the UI thread and re-posts them as the
  typed messages of ``workbench.messages``; per-step events are coalesced (the latest wins), so the UI
  costs the same at 10 or 10,000 steps per second.
* Step commands add up, also while a run is still being built.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

from textual.app import App

from core.data.dataset import Dataset
from core.errors import ConfigError, LLMLearnError
from core.train import checkpoint as checkpoints
from core.train.events import (
    Cause,
    CheckpointEvent,
    DivergenceEvent,
    EditEvent,
    ErrorEvent,
    EvalEvent,
    StateEvent,
    StepEvent,
    UntilMetEvent,
)
from core.train.history import MetricHistory
from core.train.options import default_checkpoint_name
from core.train.records import RunRecorder
from core.train.run import Run, RunConfig
from core.train.run_until import RunUntil
from core.train.session import TrainingSession
from workbench.checkpoint_saver import CheckpointSaver, ReplaceCheckpoint
from workbench.messages import (
    CheckpointSaved,
    DatasetAdopted,
    EditApplied,
    Notice,
    RunFailed,
    RunReady,
    RunStateChanged,
    SaveFailed,
    SessionUpdated,
    UntilMet,
)
from workbench.widgets.model_chooser import ModelChooser

POLL_INTERVAL = 0.1  # s between drains of the event queue
RATE_WINDOW = 3.0  # s of step timestamps used for steps/s and the ETA
#: what a start-like command does once the run is live
Then = Literal["run", "step", "epoch"]
#: the controller's own states, besides the session's (idle, running, paused, finished, stopped)
NO_RUN, BUILDING, LOADING = "no run", "building", "loading"
EPOCH_REASON = "to the end of this epoch"  # the session's reason for an F8 (core.train.session)


def describe_failure(exc: BaseException) -> str:
    """A one-line reason for a failed build/load, for any exception (the project's own say it best)."""
    if isinstance(exc, LLMLearnError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "not enough memory for this model and dataset: make the model smaller (d_model, layers, FFN size)"
    return f"{type(exc).__name__}: {exc}"


def budget_reason(start_step: int, start_reason: str, step: int, steps_per_epoch: int) -> str:
    """Why a run paused after the steps asked for (F7, F8), in words: ``all 5 steps done``, ``epoch 3
    done (313 steps)`` — not the session's "the steps asked for are done"."""
    n = step - start_step
    steps = f"{n:,} step{'s' if n != 1 else ''}"
    if start_reason == EPOCH_REASON and steps_per_epoch > 0 and step % steps_per_epoch == 0:
        return f"epoch {step // steps_per_epoch:,} done ({steps})"
    return "1 step done" if n == 1 else f"all {steps} done"


class SessionController:
    """Holds the current ``TrainingSession`` and everything the UI shows about it."""

    def __init__(self, app: App[Any]) -> None:
        self.app = app
        self.session: TrainingSession | None = None
        self.state = NO_RUN
        self.reason = ""
        self.cause: Cause | None = None
        self.checkpoint_name: str | None = None
        self.saved_step: int | None = None  # step of the last save/load of this session
        self.pace: float | None = None
        self.until = RunUntil()
        self.last_step_event: StepEvent | None = None
        self.last_eval: EvalEvent | None = None
        self.last_error = ""
        self.tokens_per_s: float | None = None
        self._rate: deque[tuple[float, int]] = deque()
        self._sessions: list[TrainingSession] = []  # every session started, so none outlives the app
        self._generation = 0  # bumped by each build/load: a late result of an older one is dropped
        self._pending: list[Then] = []  # commands given while the run was being built
        self._stretch: tuple[int, str] | None = None  # step and reason of the last start (for "all N steps done")
        self._after_save: Callable[[], object] | None = None
        self.saver = CheckpointSaver(app)
        self._timer: Any = None

    # -- reading -----------------------------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return self.session is not None and self.session.alive

    @property
    def busy(self) -> bool:
        """A run is being built or loaded."""
        return self.state in (BUILDING, LOADING)

    @property
    def history(self) -> MetricHistory | None:
        return self.session.history if self.session is not None else None

    def has_unsaved_progress(self) -> bool:
        s = self.session
        return s is not None and s.run.step > 0 and s.run.step != self.saved_step

    def steps_per_second(self) -> float | None:
        """Measured from the step events' own timestamps over the last few seconds (None when idle)."""
        if self.state != "running" or len(self._rate) < 2:
            return None
        (t0, s0), (t1, s1) = self._rate[0], self._rate[-1]
        if t1 - t0 < 0.3:
            return None
        return (s1 - s0) / (t1 - t0)

    def summary(self) -> str:
        """One line for the header: the state and epoch; the step too unless running (the header is
        re-laid-out on every change, so it must not change with each step)."""
        s = self.session
        if s is None:
            return self.state if self.state != NO_RUN else "no run — F6 starts one"
        run = s.run
        step = run.step  # read once: the training thread moves on while this line is made
        epoch = f"epoch {run.epoch_of(step):,}/{run.config.epochs:,}"
        if self.state == "running":
            return f"running · {epoch}"
        return f"{self.state} · step {step:,}/{run.total_steps:,} · {epoch}"

    def is_shipped(self, name: str | None) -> bool:
        """Is ``name`` a model shipped with the workbench (never to be saved over)?"""
        check = getattr(checkpoints, "is_shipped", None)
        return bool(name) and check is not None and bool(check(name))

    def suggested_name(self, config: RunConfig | None) -> str:
        """The checkpoint name to offer: the run's own, unless that is a shipped model."""
        if self.checkpoint_name and not self.is_shipped(self.checkpoint_name):
            return self.checkpoint_name
        config = self.session.run.config if self.session is not None else config
        name = default_checkpoint_name(config) if config else "my-model"
        return f"{name}-mine" if self.is_shipped(name) else name

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start_polling(self) -> None:
        if self._timer is None:
            self._timer = self.app.set_interval(POLL_INTERVAL, self.poll)

    def build(self, config: RunConfig, dataset: Dataset | None, then: Then | None) -> None:
        """Replace the current run by a new one built from ``config`` (off the UI thread)."""
        if dataset is not None and dataset.config != config.dataset:
            dataset = None
        old = self._detach()
        self._generation += 1
        self._pending = [then] if then else []
        self._set_state(BUILDING, "generating the dataset…" if dataset is None else "building the model…")
        generation = self._generation
        self.app.run_worker(lambda: self._build_worker(old, config, dataset, then, generation), thread=True,
                            group="session-build", exit_on_error=False, name="build run")

    def load(self, name: str) -> None:
        """Replace the current run by checkpoint ``name`` (read and rebuilt off the UI thread)."""
        old = self._detach()
        self._generation += 1
        self._pending = []
        self._set_state(LOADING, f"loading {name}…")
        generation = self._generation
        self.app.run_worker(lambda: self._load_worker(old, name, generation), thread=True,
                            group="session-load", exit_on_error=False, name="load checkpoint")

    def _detach(self) -> TrainingSession | None:
        old, self.session = self.session, None
        if old is not None:
            old.stop()  # it stops at its next step boundary; the worker waits for it to really end
        return old

    def _wait_for(self, old: TrainingSession | None) -> None:
        """Block (in a worker thread) until the old session's thread has ended: a step in progress
        finishes first, however long it takes, so two training threads never run at once."""
        if old is not None:
            old.close(timeout=1.0)
            while not old.join(timeout=0.5):
                pass

    def _build_worker(self, old: TrainingSession | None, config: RunConfig, dataset: Dataset | None,
                      then: Then | None, generation: int) -> None:
        try:
            self._wait_for(old)
            run = Run(config, dataset)
        except Exception as exc:  # every failure reaches the user; nothing leaves the pane "building"
            self.app.post_message(RunFailed("Cannot build the run", describe_failure(exc), generation))
            return
        self.app.post_message(RunReady(run, warnings=[], history=None, then=then, checkpoint=None,
                                       new_dataset=dataset is None, generation=generation))

    def _load_worker(self, old: TrainingSession | None, name: str, generation: int) -> None:
        try:
            self._wait_for(old)
            ck = checkpoints.read_checkpoint(name)
            run, warnings = ck.build_run()
            history = ck.history
        except Exception as exc:
            self.app.post_message(RunFailed(f"Cannot load {name}", describe_failure(exc), generation))
            return
        self.app.post_message(RunReady(run, warnings=warnings, history=history, then=None, checkpoint=name,
                                       new_dataset=True, generation=generation))

    def adopt(self, ready: RunReady) -> None:
        """Make a built or loaded run the current one: a new session with its own worker thread."""
        if ready.generation != self._generation:
            return  # an older build finished after a newer one was asked for
        run = ready.run
        try:
            session = TrainingSession(run, recorder=RunRecorder.for_run(run, "app", resumed_from=ready.checkpoint))
            if ready.history:
                session.history = MetricHistory.from_records(ready.history)
            if self.pace is not None:
                session.set_pace(self.pace)
            session.run_until(self.until)
            session.start_thread()
        except Exception as exc:
            self.failed(RunFailed("Cannot start the run", describe_failure(exc), ready.generation))
            return
        self._sessions = [s for s in self._sessions if s.alive]
        self._sessions.append(session)
        self.session = session
        self._stretch = None
        self.saved_step = run.step
        self.checkpoint_name = ready.checkpoint
        self.saver.new_session(ready.checkpoint)
        self.last_step_event, self.last_eval, self.last_error = None, None, ""
        self._rate.clear()
        self.tokens_per_s = None
        for w in ready.warnings:
            self.app.post_message(Notice(w, "Warning", "warning", 8))
        if ready.new_dataset:
            self.app.post_message(DatasetAdopted(run.dataset, "checkpoint" if ready.checkpoint else "run"))
        if ready.checkpoint:
            self.app.post_message(Notice(f"Loaded {ready.checkpoint} at step {run.step:,}.", timeout=3))
        self._set_state(session.state, "")
        pending, self._pending = self._pending, []
        for what in pending:
            self.command(what)

    def failed(self, failure: RunFailed) -> None:
        if failure.generation != self._generation:
            return
        self._pending = []
        self.last_error = failure.message
        self._set_state(NO_RUN, "")
        self.app.post_message(Notice(failure.message, failure.title, "error", 8))

    def close(self, timeout: float = 1.0) -> bool:
        """Stop the current worker and wait for it (blocking: call from a thread, or at exit)."""
        s = self.session
        return True if s is None else s.close(timeout=timeout)

    def close_all(self, timeout: float = 1.0) -> None:
        """Stop every training worker still alive (blocking; for the very end)."""
        for s in self._sessions:
            if s.alive:
                s.close(timeout=timeout)

    # -- commands ------------------------------------------------------------------------------------------
    def command(self, what: Then) -> bool:
        """Run, step or run an epoch on the live session; while a run is being built, the command is
        kept and applied once it is ready (so quick F7 presses are never lost). False if there is no
        live run to command."""
        if self.busy:
            self._pending.append(what)
            return True
        s = self.session
        if s is None or not s.alive:
            return False
        if what == "run":
            s.start()
        elif what == "step":
            s.step(1)
        else:
            s.run_epoch()
        self.poll_soon()
        return True

    def pause(self) -> bool:
        s = self.session
        if s is None or not s.alive:
            return False
        s.pause()
        self.poll_soon()
        return True

    def stop(self) -> bool:
        s = self.session
        if s is None or not s.alive:
            return False
        s.stop()
        self.poll_soon()
        return True

    def set_learning_rate(self, lr: float) -> bool:
        """Change the live run's learning rate (True), or say there is no live run (False).
        ConfigError for a value the run refuses."""
        s = self.session
        if s is None or not s.alive:
            return False
        s.set_learning_rate(lr)
        self.poll_soon()
        return True

    def set_pace(self, pace: float | None) -> None:
        if pace is not None and (not math.isfinite(pace) or pace <= 0):
            raise ConfigError("pace must be a positive number of steps per second")
        if self.alive:
            assert self.session is not None
            self.session.set_pace(pace)
        self.pace = pace
        self.app.post_message(SessionUpdated(False))

    def set_until(self, until: RunUntil) -> None:
        if self.alive:
            assert self.session is not None
            self.session.run_until(until)
        self.until = until
        self.app.post_message(SessionUpdated(False))

    def poll_soon(self) -> None:
        """Show a command's effect as soon as the worker applied it (at its next step boundary, a few ms
        away), instead of at the next regular poll."""
        for delay in (0.01, 0.03, 0.06):
            self.app.set_timer(delay, self.poll)

    # -- saving ----------------------------------------------------------------------------------------------
    def save(self, name: str, then: Callable[[], object] | None = None, force: bool = False) -> bool:
        """Save the current run as ``name``: on the training thread between steps when it is alive, else
        in a thread worker. ``then`` runs on the UI thread once the save succeeded. Unless ``force``, a
        save over a better checkpoint (or of a diverged run over any) asks first (``checkpoint_saver``)."""
        s = self.session
        if s is None:
            return False
        if self.is_shipped(name):
            self.app.post_message(SaveFailed(name, f"{name} is a shipped model and is never overwritten: "
                                                   "choose another name"))
            return False
        self._after_save = then
        self.saver.save(s, name, force)
        return True

    def saved(self, message: CheckpointSaved) -> None:
        if self.session is not None:
            self.saved_step = message.step
            self.checkpoint_name = message.name
        then, self._after_save = self._after_save, None
        for chooser in self.app.query(ModelChooser):  # every model picker lists the new checkpoint
            chooser.reload()
        self.app.post_message(SessionUpdated(False))
        if then is not None:
            then()

    def save_failed(self, message: SaveFailed | None = None) -> bool:
        """A save was not made. True when it only waits for the user: the checkpoint at its name is
        better than the run, so the confirm screen asks (replace / save as a sibling / do not save)."""
        then = self._after_save
        if not isinstance(message, ReplaceCheckpoint):
            self._after_save = None
            return False

        def answer(choice: str | None) -> None:
            if choice is None:
                self._after_save = None
                self.app.post_message(Notice(f"Not saved: {message.name} is kept.", timeout=3))
            else:
                replace = choice == "replace"
                self.save(message.name if replace else message.alternative, then, force=replace)

        self.saver.ask(message, answer)
        return True

    # -- events → messages -------------------------------------------------------------------------------
    def _set_state(self, state: str, reason: str, cause: Cause | None = None) -> None:
        self.state, self.reason, self.cause = state, reason, cause
        self.app.post_message(RunStateChanged(state, reason, cause))
        self.app.post_message(SessionUpdated(True))

    def poll(self) -> None:
        """Drain the session's events (never blocks) and post what changed."""
        s = self.session
        if s is None:
            return
        events = s.drain()
        if not events:
            return
        state_changed = False
        for e in events:
            if isinstance(e, StepEvent):
                self.last_step_event = e
                if math.isfinite(e.tokens_per_s):
                    t = e.tokens_per_s
                    self.tokens_per_s = t if self.tokens_per_s is None else 0.9 * self.tokens_per_s + 0.1 * t
                if e.time:
                    self._rate.append((e.time, e.step))
            elif isinstance(e, EvalEvent):
                self.last_eval = e
            elif isinstance(e, StateEvent):
                reason = e.reason
                if e.cause is Cause.STARTED:
                    self._rate.clear()  # a rate spans one stretch of running, not the pauses between
                    self.last_error = ""
                    if self.state != "running":  # F7 presses while running extend the same stretch
                        self._stretch = (e.step, e.reason)
                elif e.cause is Cause.BUDGET and self._stretch is not None:
                    reason = budget_reason(*self._stretch, e.step, s.run.steps_per_epoch)
                self.state, self.reason, self.cause = e.state, reason, e.cause
                self.app.post_message(RunStateChanged(e.state, reason, e.cause))
                state_changed = True
            elif isinstance(e, UntilMetEvent):
                self.until = RunUntil()  # the session cleared it too: a met condition never carries on
                self.app.post_message(UntilMet(e.step, e.condition, e.reason))
            elif isinstance(e, EditEvent):
                self.app.post_message(EditApplied(e.step, e.field, e.value))
            elif isinstance(e, CheckpointEvent):
                self.app.post_message(CheckpointSaved(e.name, e.step, e.path))
            elif isinstance(e, DivergenceEvent):
                self.last_error = self.saver.divergence = e.message
                self.app.post_message(Notice(e.message, "Training diverged", "error", 10))
            elif isinstance(e, ErrorEvent):
                self.last_error = e.message
                self.app.post_message(Notice(e.message, "Training error", "error", 10))
        now = time.monotonic()
        while len(self._rate) > 2 and now - self._rate[0][0] > RATE_WINDOW:
            self._rate.popleft()
        self.app.post_message(SessionUpdated(state_changed))
