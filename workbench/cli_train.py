"""``workbench train``: train headless, and never lose the run or silently replace a better checkpoint.

* **Periodic saves** (``--save-every`` minutes, ``--save-every-steps``): made on the training thread
  between two steps, with the history and the last validation metrics, so a kill -9 or the OOM
  killer loses at most the steps since the last one.
* **Ctrl-C and SIGTERM** stop the run after the current step and save it. A second Ctrl-C skips the
  final evaluation; one during the evaluation saves without the test accuracy (said so); during the
  save itself Ctrl-C is refused ("saving, please wait") — the save is atomic either way.
* **Worse-run protection** (``core.train.checkpoint.compare``): a save that would replace a better
  checkpoint, or any checkpoint with a diverged run, goes to a free sibling name (``K-2``) instead,
  and one line says so; ``--force`` saves over the name anyway.
"""

from __future__ import annotations

import argparse
import json
import queue
import signal
import time
from dataclasses import dataclass
from types import FrameType
from typing import Any, TextIO

from core.errors import LLMLearnError
from core.process import tune_for_training
from core.train.checkpoint import checkpoint_dir, is_shipped, read_checkpoint, save_checkpoint
from core.train.checkpoint.compare import SaveGuard, loss_diverged
from core.train.evaluation import EvalResult
from core.train.events import Cause, DivergenceEvent, ErrorEvent, EvalEvent, StateEvent, StepEvent
from core.train.history import MetricHistory
from core.train.options import GROUPS, OPTIONS, build_run_config, default_checkpoint_name
from core.train.presets import PRESETS, preset
from core.train.records import RunRecorder
from core.train.report import split_expressions
from core.train.run import Run
from core.train.run_until import RunUntil
from core.train.session import TrainingSession
from core.train.slices import compute_slices, min_slice_accuracy
from core.validation import Option
from workbench.train_progress import Progress

MAX_THREADS = 256  # BLAS threads; far more than any machine this runs on has cores
DEFAULT_SAVE_MINUTES = 5.0

EXIT_STATUS = """exit status: 0 trained and saved (also when stopped early by Ctrl-C or SIGTERM: the run is saved where
it stopped, with the final evaluation if it completed); 1 training stopped on an error or a divergence, or
the save failed; 2 bad arguments; 130 interrupted before training began (nothing to save).
A run that is worse than the checkpoint already at its name, or diverged, is saved under a free sibling
name (NAME-2, …) instead of replacing it; --force replaces it."""


class CLIError(Exception):
    """A user-facing failure: printed as one line, exit status 2."""


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a flag's default unless it is None/False (nothing to show) or already in its help."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


class _Formatter(_HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """The defaults shown, and the exit-status epilog kept as written."""


def add_train_parser(sub: Any) -> None:
    """The ``train`` subcommand: every schema option as a flag, plus run, saving and thread options."""
    t = sub.add_parser("train", help="train a model (headless) and save it to your models folder",
                       formatter_class=_Formatter, epilog=EXIT_STATUS)
    groups = {"task": t.add_argument_group("task"), "dataset": t.add_argument_group("data"),
              "model": t.add_argument_group("model"), "optimizer": t.add_argument_group("optimization"),
              "run": t.add_argument_group("run")}
    groups["task"].add_argument("--preset", metavar="NAME", default=None,
                                help=f"start from a preset task, model and optimiser ({', '.join(PRESETS)}); "
                                     "options you give override it")
    for group, options in GROUPS.items():
        for o in options:
            _add_option(groups[group], o)
    groups["run"].add_argument("--until-val-acc", type=float, default=None, metavar="X",
                               help="stop early once validation accuracy reaches this (0–1)")
    g = t.add_argument_group("saving")
    g.add_argument("--out", metavar="NAME", help="checkpoint name in your models folder (default: from the task)")
    g.add_argument("--resume", metavar="NAME",
                   help="continue a saved run where it stopped, with its own settings; with --epochs N, train "
                        "it up to N epochs in total (N must be more than the epochs it has done; a cosine "
                        "schedule is stretched to the new length)")
    g.add_argument("--save-every", type=float, default=DEFAULT_SAVE_MINUTES, metavar="MINUTES",
                   help="also save while training, every MINUTES minutes (between two steps); 0 = only at the end")
    g.add_argument("--save-every-steps", type=int, default=0, metavar="N",
                   help="also save every N steps; 0 = off")
    g.add_argument("--force", action="store_true",
                   help="save over the checkpoint at NAME even if it is better than this run, or this run diverged")
    t.add_argument("--threads", type=int, default=1, metavar="N",
                   help="BLAS threads for NumPy; 1 stays fast when other work shares the cores (see core/threads.py)")
    t.add_argument("--json", action="store_true", help="print a JSON summary instead of text")


def _add_option(group: argparse._ArgumentGroup, o: Option) -> None:
    """The flag of a schema option (``core.train.options``): its label's words, older names as aliases,
    its help with the allowed values and the default. The default is applied by ``build_run_config``,
    not by argparse, so that the namespace holds only what the user typed (see ``given_options``)."""
    kwargs: dict[str, Any] = {"dest": o.name, "default": argparse.SUPPRESS}
    if o.kind == "names":
        kwargs.update(type=_names, metavar=",".join(o.choices[:2]) + ",…")
    elif o.kind == "choice":
        kwargs.update(choices=o.choices, type=type(o.choices[0]))
    else:
        kwargs.update(type=int if o.kind == "int" else float, metavar="N" if o.kind == "int" else "X")
    allowed = "" if o.kind in ("choice", "names") else f"; {o.describe()}"
    text = f"{o.help}{allowed} (default: {o.format(o.default)})"
    group.add_argument(o.flag, *o.aliases, help=text.replace("%", "%%"), **kwargs)


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def given_options(a: argparse.Namespace) -> dict[str, Any]:
    """The schema options the user typed on the command line (the rest take their defaults)."""
    return {name: value for name, value in vars(a).items() if name in OPTIONS}


# -- signals ---------------------------------------------------------------------------------------------
class Interrupts:
    """Ctrl-C and SIGTERM from the start of training to the end of the save.

    While training, a signal is only counted: the main loop pauses the session (the step under way
    finishes: a step is never cut in half) and says so. The handler itself touches neither the session
    nor stderr, as the main thread may be holding the command queue's lock or be half-way through a
    progress line. During the final evaluation it raises KeyboardInterrupt, once (the evaluation is
    dropped, the run is saved); during the save it is refused."""

    def __init__(self, session: TrainingSession, err: TextIO) -> None:
        self.session, self.err = session, err
        self.count = 0
        self.reported = 0
        self.what = ""
        self.phase = "training"
        self._old: dict[int, Any] = {}

    def __enter__(self) -> Interrupts:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.phase == "saving":
            self.err.write("saving, please wait\n")
            self.err.flush()
            return
        self.count += 1
        self.what = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"
        if self.phase == "evaluating":
            self.phase = "saving"  # here, so that no second KeyboardInterrupt can follow this one
            raise KeyboardInterrupt

    @property
    def interrupted(self) -> bool:
        return self.count > 0

    def report(self, progress: Progress) -> None:
        """Say what the signals received since the last report will do (from the main loop)."""
        if self.count == self.reported:
            return
        self.session.pause()
        if self.reported == 0:
            progress.note(f"{self.what}: stopping after this step, then saving… (Ctrl-C again skips the final "
                          "evaluation)")
        else:
            progress.note(f"{self.what} again: saving as soon as the current step ends, without the final "
                          "evaluation…")
        self.reported = self.count


# -- saving ----------------------------------------------------------------------------------------------
@dataclass
class Saved:
    name: str  # where the run was written
    path: str
    step: int
    note: str  # why it is not at the name asked for ("" when it is)


class RunSaver:
    """Every save of one run, periodic or final, through one ``SaveGuard``: a save that may not replace
    the checkpoint at ``name`` goes to the guard's sibling, unless ``force``."""

    def __init__(self, session: TrainingSession, name: str, force: bool, guard: SaveGuard) -> None:
        self.session, self.name, self.force, self.guard = session, name, force, guard
        self.divergence: str | None = None  # set by the main loop on a DivergenceEvent
        self.results: queue.Queue[Saved | str] = queue.Queue()  # periodic saves' outcomes, for the main loop
        self.pending = False
        self.last_step = session.run.step
        self.saved_at = time.monotonic()  # when the last periodic save was reported (or training began)

    def diverged(self) -> str | None:
        return self.divergence or loss_diverged(self.session.history.points("train/loss")[1])

    def save(self, run: Run, metrics: dict[str, Any]) -> Saved:
        """Save now (the caller owns the run: the worker between steps, or the main thread after it ended)."""
        decision = self.guard.decide(self.name, metrics, self.diverged())
        target = self.name if decision.verdict.replace or self.force else decision.alternative
        path = save_checkpoint(run, target, history=self.session.history.to_records(), metrics=metrics)
        self.guard.went_to(self.name, target, path)
        if self.session.recorder is not None:
            self.session.recorder.checkpoint(run.step, target, str(path), metrics)
        note = "" if target == self.name else (f"{decision.verdict.reason}: saved as {target} instead "
                                               f"(--force saves over {self.name})")
        self.last_step = run.step
        return Saved(target, str(path), run.step, note)

    def periodic(self, run: Run) -> None:
        """On the training thread, between two steps (``TrainingSession.request``)."""
        try:
            ev = self.session.last_eval
            metrics = {"val_accuracy": ev.accuracy if ev else None, "val_loss": ev.loss if ev else None,
                       "steps": run.step}
            self.results.put(self.save(run, metrics))
        except Exception as exc:  # a full disk, anything: training goes on, the user is told
            self.results.put(f"{type(exc).__name__}: {exc}" if not isinstance(exc, LLMLearnError) else str(exc))
        finally:
            # the next one is due a period after this save, not after its report reaches the main thread:
            # in between, a time-due check would ask for a second save a step or two later
            self.saved_at = time.monotonic()
            self.pending = False

    def maybe_request(self, step: int, every_steps: int, every_s: float) -> None:
        """Ask the worker for a periodic save when one is due (by steps or by time) and none is pending."""
        if self.pending or step <= self.last_step:
            return
        due_steps = every_steps > 0 and step - self.last_step >= every_steps
        due_time = every_s > 0 and time.monotonic() - self.saved_at >= every_s
        if due_steps or due_time:
            self.pending = True
            self.session.request(self.periodic)


def _prepare(a: argparse.Namespace, err: TextIO) -> tuple[Run, str, list[dict[str, Any]], SaveGuard]:
    """The run to train (new, or resumed from its checkpoint), the name to save it as, its history, and
    the guard that knows the checkpoint it was resumed from."""
    warnings: list[str] = []
    checkpoint_dir(a.out or a.resume or "x")  # refuse a bad name before spending time
    if not 1 <= a.threads <= MAX_THREADS:
        raise CLIError(f"--threads must be between 1 and {MAX_THREADS}, got {a.threads}")
    if a.until_val_acc is not None and not 0.0 <= a.until_val_acc <= 1.0:
        raise CLIError("--until-val-acc is a validation accuracy between 0 and 1 (0.99 = 99%), "
                       f"got {a.until_val_acc:g}")
    if not a.save_every >= 0 or a.save_every_steps < 0:  # `not >=` also refuses nan
        raise CLIError("--save-every (minutes) and --save-every-steps must be 0 (off) or more")
    tune_for_training(a.threads)
    given = given_options(a)
    guard = SaveGuard()
    if a.resume:
        epochs = given.pop("epochs", None)
        ck = read_checkpoint(a.resume)
        guard.started_from(ck.path)
        done, planned = int(ck.state.get("epoch", 0)), ck.config.epochs
        if epochs is not None and epochs <= done:
            raise CLIError(f"{a.resume} has already trained {done} epoch{'s' if done != 1 else ''}: --epochs is "
                           f"the total to train up to, so give more than {done} (e.g. --epochs {done + planned})")
        if a.preset:
            warnings.append(f"ignored with --resume: --preset {a.preset} (a resumed run keeps its own settings)")
        if given:
            flags = ", ".join(OPTIONS[n].flag for n in given)
            warnings.append(f"ignored with --resume: {flags} (a resumed run keeps its own settings; only --epochs "
                            "changes, the total number of epochs it trains up to)")
        run, build_warnings = ck.build_run()
        warnings += build_warnings
        if epochs is not None and epochs != planned:
            run.set_epochs(epochs)
            err.write(f"{a.resume}: {done} of {planned} epochs done; training up to {epochs} epochs in total\n")
        elif run.finished:
            err.write(f"{a.resume} has finished its {planned} epochs: nothing left to train (--epochs N, with N "
                      f"more than {planned}, trains it further)\n")
        name, history = a.out or a.resume, ck.history
    else:
        config = preset(a.preset).run_config(given) if a.preset else build_run_config(given)
        err.write(f"generating {config.dataset.task.describe()}: {config.dataset.n_train:,} training examples…\n")
        run = Run(config)
        name, history = a.out or default_checkpoint_name(config), []
    if is_shipped(name):
        raise CLIError(f"{name!r} is a model shipped with the workbench and is never overwritten: "
                       "choose another name with --out NAME")
    for w in warnings:
        err.write(f"warning: {w}\n")
    return run, name, history, guard


def cmd_train(a: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Train a new run from the options given (the rest at their defaults), or continue a saved one.

    ``--resume NAME`` continues the saved run exactly where it stopped, with its own settings (other
    options are ignored, with a warning), and trains until its epochs are done; a finished run has
    nothing left and is saved as it is. ``--resume NAME --epochs N`` trains it up to N epochs *in total*
    — what the same run started with ``--epochs N`` would have trained — so N must be more than the
    epochs it has completed (an error otherwise). The schedule follows the new length (``Run.set_epochs``):
    a cosine schedule's ``total_steps`` becomes steps per epoch × N, so the decay now ends at the new last
    step; constant and step schedules are unchanged. The checkpoint is saved with the new epoch count.
    Saving, signals and the worse-run rule: see the module docstring and ``EXIT_STATUS``.
    """
    run, name, history, guard = _prepare(a, err)
    if a.until_val_acc is not None and run.val_split is None:
        raise CLIError("--until-val-acc needs a validation split: --n-val must be at least 1")
    session = TrainingSession(run, recorder=RunRecorder.for_run(run, "cli", resumed_from=a.resume))
    if history:
        session.history = MetricHistory.from_records(history)
    if a.until_val_acc is not None:
        session.run_until(RunUntil(val_accuracy=a.until_val_acc))
    progress = Progress(run.total_steps, err)
    saver = RunSaver(session, name, a.force, guard)
    err.write(f"model: {run.config.model.kind}, {run.model.num_parameters:,} parameters; "
              f"{run.total_steps - run.step:,} steps to go\n")
    err.flush()
    t0 = time.monotonic()
    last_state, last_reason, error = "idle", "", None
    with Interrupts(session, err) as sig:
        session.start_thread()
        session.start()
        last_step: StepEvent | None = None
        try:
            while True:
                sig.report(progress)
                _report_periodic(saver, progress)
                try:
                    e = session.events.get(timeout=0.2)
                except queue.Empty:
                    if not session.alive:
                        break
                    continue
                if isinstance(e, StepEvent):
                    last_step = e
                    progress.update(e)
                    saver.maybe_request(e.step, a.save_every_steps, a.save_every * 60)
                elif isinstance(e, EvalEvent):
                    progress.val = e.accuracy
                elif isinstance(e, DivergenceEvent | ErrorEvent):
                    error = e.message
                    if isinstance(e, DivergenceEvent):
                        saver.divergence = e.message
                elif isinstance(e, StateEvent):
                    last_state, last_reason = e.state, e.reason
                    if e.state in ("paused", "finished", "stopped") and e.cause is not Cause.OPENED:
                        break
        finally:
            if last_step is not None:
                progress.update(last_step, force=True)
            session.close(timeout=0.5)
            while not session.join(0.5):  # a long step finishes first: the run is never saved half-updated
                sig.report(progress)
            sig.report(progress)
            _report_periodic(saver, progress)
            progress.close()
        elapsed = time.monotonic() - t0
        if error and not sig.interrupted:
            err.write(f"training stopped: {error}\n")
        if sig.count <= 1:
            err.write("final evaluation… (Ctrl-C skips it: the run is saved either way)\n")
            err.flush()
        test, val, dropped = _final_evaluation(run, session, sig)
        if dropped:
            err.write("interrupted during the final evaluation: saving without the test accuracy…\n")
        elif sig.count > 1:
            err.write("saving without the final evaluation…\n")
        else:
            err.write("saving…\n")
        err.flush()
        metrics = {"val_accuracy": val[0] if val else None, "val_loss": val[1] if val else None,
                   "test_accuracy": test[0] if test else None,
                   "test_min_slice_accuracy": test[1] if test else None,
                   "steps": run.step, "train_seconds": round(elapsed, 2)}
        sig.phase = "saving"
        try:
            saved = saver.save(run, metrics)
        except (LLMLearnError, OSError) as exc:
            err.write(f"error: the run (step {run.step:,}) could not be saved: {exc}\n")
            return 1
    err.write(f"saved → {saved.path}\n")
    if saved.note:
        err.write(f"note: {saved.note}\n")
    summary = {"name": saved.name, "path": saved.path, "state": last_state, "reason": last_reason, **metrics,
               "interrupted": sig.interrupted, "error": error, "asked_name": name, "kept_because": saved.note or None}
    if a.json:
        out.write(json.dumps(summary) + "\n")
    else:
        low = f", lowest slice {test[1]:.2%}" if test is not None and test[1] is not None else ""
        acc = (f"test accuracy {test[0]:.2%}{low}" if test is not None else
               "no test accuracy (evaluation skipped)" if dropped or sig.count > 1 else "no test split")
        why = f" (interrupted by {sig.what}: saved where it stopped)" if sig.interrupted else ""
        out.write(f"{saved.name}: {acc} after {run.step:,} steps in {elapsed:.1f} s{why} → {saved.path}\n")
    return 1 if error and not sig.interrupted else 0


def _report_periodic(saver: RunSaver, progress: Progress) -> None:
    """Print the outcome of the periodic saves made since the last call (on the main thread)."""
    while True:
        try:
            r = saver.results.get_nowait()
        except queue.Empty:
            return
        saver.saved_at = time.monotonic()
        if isinstance(r, str):
            progress.note(f"warning: periodic save failed ({r}); training goes on, next try later")
            continue
        progress.saved_step = r.step
        progress.note(f"saved step {r.step:,} → {r.path}" + (f" ({r.note})" if r.note else ""))


def _min_slice(run: Run, result: EvalResult | None) -> float | None:
    """The test split's lowest slice accuracy (``core.train.slices``): what ``workbench models`` shows
    next to the test accuracy, because one average hides the weak inputs."""
    if result is None or run.test_split is None:
        return None
    task = run.config.dataset.task
    slices = compute_slices(split_expressions(run.test_split, task), result.correct, task.operations, task.max_value)
    return min_slice_accuracy(slices)


def _final_evaluation(run: Run, session: TrainingSession,
                      sig: Interrupts) -> tuple[tuple[float, float | None] | None, tuple[float, float] | None, bool]:
    """((test accuracy, its lowest slice), (val accuracy, val loss), dropped): skipped after a second
    Ctrl-C, dropped when one arrives during it; the validation metrics then come from the run's last
    evaluation, if any."""
    last = session.last_eval
    fallback = (last.accuracy, last.loss) if last is not None else None
    if sig.count > 1:
        return None, fallback, False
    try:
        sig.phase = "evaluating"
        test = run.evaluate("test")
        val = run.evaluate("val")
        sig.phase = "saving"
    except KeyboardInterrupt:  # the handler has already moved on to "saving"
        return None, fallback, True
    tested = (test.accuracy, _min_slice(run, test)) if test else None
    return tested, ((val.accuracy, val.loss) if val else fallback), False
