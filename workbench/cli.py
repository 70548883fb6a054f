"""The ``workbench`` command: headless training, evaluation and prediction on the NumPy core.

    workbench train   [task, model and optimizer options] [--out NAME]   (flags from core.train.options)
    workbench train   --resume NAME [--epochs N]   continue a saved run, up to N epochs in total
    workbench eval    NAME [--split test]
    workbench predict NAME "Max(3, 7, 2)" …      (or one expression per line on stdin)
    workbench models
    workbench [app] [--no-mouse]                 the interactive Textual workbench (the default)
    workbench serve [--host localhost] [--port 8000]   the same app in a browser (textual-serve)
The headless commands take ``--json``. User errors print one line (``error: …``) and exit with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import queue
import shlex
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from core.errors import LLMLearnError
from core.probe.inference import predict
from core.process import tune_for_training
from core.train.checkpoint import (
    checkpoint_dir,
    is_shipped,
    list_checkpoints,
    read_checkpoint,
    save_checkpoint,
    shipped_models_dir,
    user_models_dir,
)
from core.train.events import Cause, DivergenceEvent, ErrorEvent, EvalEvent, StateEvent, StepEvent
from core.train.history import MetricHistory
from core.train.options import GROUPS, OPTIONS, build_run_config, default_checkpoint_name
from core.train.report import build_report
from core.train.run import Run
from core.train.run_until import RunUntil
from core.train.session import TrainingSession
from core.validation import Option
from workbench.train_progress import Progress

EXIT_USAGE = 2
MAX_THREADS = 256  # BLAS threads; far more than any machine this runs on has cores


class CLIError(Exception):
    """A user-facing failure: printed as one line, exit status 2."""


# -- argument parsing --------------------------------------------------------------------------------
class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a flag's default unless it is None/False (nothing to show) or already in its help."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="workbench", description="Train a tiny transformer from scratch in NumPy.")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train a model (headless) and save it to your models folder",
                       formatter_class=_HelpFormatter)
    groups = {"task": t.add_argument_group("task"), "dataset": t.add_argument_group("data"),
              "model": t.add_argument_group("model"), "optimizer": t.add_argument_group("optimization"),
              "run": t.add_argument_group("run")}
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
    t.add_argument("--threads", type=int, default=1, metavar="N",
                   help="BLAS threads for NumPy; 1 stays fast when other work shares the cores (see core/threads.py)")
    t.add_argument("--json", action="store_true", help="print a JSON summary instead of text")

    e = sub.add_parser("eval", help="evaluate a saved model")
    e.add_argument("name")
    e.add_argument("--split", choices=("train", "val", "test"), default="test")
    e.add_argument("--mistakes", type=int, default=10, help="how many mistakes to list")
    e.add_argument("--json", action="store_true")

    pr = sub.add_parser("predict", help="answer expressions with a saved model")
    pr.add_argument("name")
    pr.add_argument("expressions", nargs="*", help='e.g. "Max(3, 7, 2)"; none or "-": read lines from stdin')
    pr.add_argument("--top", type=int, default=3, help="how many top answers to show")
    pr.add_argument("--json", action="store_true")

    m = sub.add_parser("models", help="list your saved models and the shipped ones")
    m.add_argument("--json", action="store_true")

    ap = sub.add_parser("app", help="open the interactive workbench (the default)")
    ap.add_argument("--no-mouse", action="store_true",
                    help="do not capture the mouse (the terminal keeps its own selection; everything has a key)")

    sv = sub.add_parser("serve", help="serve the interactive workbench in a web browser (textual-serve)")
    sv.add_argument("--host", default="localhost",
                    help="address to listen on; the page needs the token printed at start, and only this "
                         "host and origin are served")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--public-url", default=None, help="URL the browser uses, when behind a proxy or tunnel")
    return p


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


# -- train -------------------------------------------------------------------------------------------
def given_options(a: argparse.Namespace) -> dict[str, Any]:
    """The schema options the user typed on the command line (the rest take their defaults)."""
    return {name: value for name, value in vars(a).items() if name in OPTIONS}


def cmd_train(a: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Train a new run from the options given (the rest at their defaults), or continue a saved one.

    ``--resume NAME`` continues the saved run exactly where it stopped, with its own settings (other
    options are ignored, with a warning), and trains until its epochs are done; a finished run has
    nothing left and is saved as it is. ``--resume NAME --epochs N`` trains it up to N epochs *in total*
    — what the same run started with ``--epochs N`` would have trained — so N must be more than the
    epochs it has completed (an error otherwise). The schedule follows the new length (``Run.set_epochs``):
    a cosine schedule's ``total_steps`` becomes steps per epoch × N, so the decay now ends at the new last
    step; constant and step schedules are unchanged. The checkpoint is saved with the new epoch count.
    """
    warnings: list[str] = []
    checkpoint_dir(a.out or a.resume or "x")  # refuse a bad name before spending time
    if not 1 <= a.threads <= MAX_THREADS:
        raise CLIError(f"--threads must be between 1 and {MAX_THREADS}, got {a.threads}")
    if a.until_val_acc is not None and not 0.0 <= a.until_val_acc <= 1.0:
        raise CLIError("--until-val-acc is a validation accuracy between 0 and 1 (0.99 = 99%), "
                       f"got {a.until_val_acc:g}")
    tune_for_training(a.threads)
    given = given_options(a)
    if a.resume:
        epochs = given.pop("epochs", None)
        ck = read_checkpoint(a.resume)
        done, planned = int(ck.state.get("epoch", 0)), ck.config.epochs
        if epochs is not None and epochs <= done:
            raise CLIError(f"{a.resume} has already trained {done} epoch{'s' if done != 1 else ''}: --epochs is "
                           f"the total to train up to, so give more than {done} (e.g. --epochs {done + planned})")
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
        name = a.out or a.resume
        history = ck.history
    else:
        config = build_run_config(given)
        err.write(f"generating {config.dataset.task.describe()}: {config.dataset.n_train:,} training examples…\n")
        run = Run(config)
        name = a.out or default_checkpoint_name(config)
        history = []
    if is_shipped(name):
        raise CLIError(f"{name!r} is a model shipped with the workbench and is never overwritten: "
                       "choose another name with --out NAME")
    for w in warnings:
        err.write(f"warning: {w}\n")
    session = TrainingSession(run)
    if history:
        session.history = MetricHistory.from_records(history)
    if a.until_val_acc is not None:
        session.run_until(RunUntil(val_accuracy=a.until_val_acc))
    progress = Progress(run.total_steps, err)
    err.write(f"model: {run.config.model.kind}, {run.model.num_parameters:,} parameters; "
              f"{run.total_steps - run.step:,} steps to go\n")
    interrupted = False

    def on_sigint(signum: int, frame: Any) -> None:
        nonlocal interrupted
        interrupted = True
        session.pause()

    old = signal.signal(signal.SIGINT, on_sigint)
    t0 = time.monotonic()
    last_state, last_reason, error = "idle", "", None
    session.start_thread()
    session.start()
    last_step: StepEvent | None = None
    try:
        while True:
            try:
                e = session.events.get(timeout=0.2)
            except queue.Empty:
                if not session.alive:
                    break
                continue
            if isinstance(e, StepEvent):
                last_step = e
                progress.update(e)
            elif isinstance(e, EvalEvent):
                progress.val = e.accuracy
            elif isinstance(e, DivergenceEvent | ErrorEvent):
                error = e.message
            elif isinstance(e, StateEvent):
                last_state, last_reason = e.state, e.reason
                if e.state in ("paused", "finished", "stopped") and e.cause is not Cause.OPENED:
                    break
    finally:
        if last_step is not None:
            progress.update(last_step, force=True)
        progress.close()
        session.close()
        signal.signal(signal.SIGINT, old)
    elapsed = time.monotonic() - t0
    if error and not interrupted:
        err.write(f"training stopped: {error}\n")
    test = run.evaluate("test")
    val = run.evaluate("val")
    metrics = {"val_accuracy": val.accuracy if val else None, "test_accuracy": test.accuracy if test else None,
               "steps": run.step, "train_seconds": round(elapsed, 2)}
    path = save_checkpoint(run, name, history=session.history.to_records(), metrics=metrics)
    summary = {"name": name, "path": str(path), "state": last_state, "reason": last_reason, **metrics,
               "interrupted": interrupted, "error": error}
    if a.json:
        out.write(json.dumps(summary) + "\n")
    else:
        acc = f"test accuracy {test.accuracy:.2%}" if test else "no test split"
        why = " (interrupted: saved where it stopped)" if interrupted else ""
        out.write(f"{name}: {acc} after {run.step:,} steps in {elapsed:.1f} s{why} → {path}\n")
    return 1 if error and not interrupted else 0


# -- eval / predict / models ---------------------------------------------------------------------------
def cmd_eval(a: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    ck = read_checkpoint(a.name)
    run, warnings = ck.build_run()
    for w in warnings:
        err.write(f"warning: {w}\n")
    split = {"train": run.train_split, "val": run.val_split, "test": run.test_split}[a.split]
    if split is None:
        raise CLIError(f"{a.name} has no {a.split} split")
    task = run.config.dataset.task
    report = build_report(run.model, task, a.split, split, train=run.train_split)
    if a.json:
        out.write(json.dumps(report.to_dict(max_mistakes=a.mistakes)) + "\n")
        return 0
    out.write(f"{a.name} · {task.describe()} · {a.split}: accuracy {report.accuracy:.2%} "
              f"({report.n - len(report.mistakes):,}/{report.n:,}), loss {report.loss:.4f}\n")
    out.write("by operation:  " + "  ".join(f"{k} {v:.1%}" for k, v in report.accuracy_by_op.items()) + "\n")
    out.write("by arguments:  " + "  ".join(f"{k}: {v:.1%}" for k, v in report.accuracy_by_nargs.items()) + "\n")
    if report.train_accuracy is not None:
        out.write(f"train accuracy (sample): {report.train_accuracy:.2%}\n")
    if task.num_classes <= 10:
        out.write("confusion (rows: true answer, columns: predicted; '-' no answer)\n")
        out.write("      " + " ".join(f"{c:>5}" for c in range(task.num_classes)) + "     -\n")
        for t, row in enumerate(report.confusion):
            out.write(f"{t:>5} " + " ".join(f"{int(v):>5}" for v in row) + "\n")
    confusions = report.top_confusions()
    if confusions:
        out.write("most frequent errors: " + ", ".join(
            f"{t}→{'none' if p < 0 else p} ×{n}" for t, p, n in confusions) + "\n")
    if report.mistakes:
        out.write(f"mistakes ({len(report.mistakes)}):\n")
        for m in report.mistakes[: a.mistakes]:
            pred = "no answer" if m.predicted < 0 else m.predicted
            out.write(f"  {m.expression} = {m.truth}, model said {pred}\n")
    for w in report.warnings:
        out.write(f"warning: {w}\n")
    return 0


def cmd_predict(a: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    ck = read_checkpoint(a.name)
    model = ck.build_model()
    texts = list(a.expressions)
    if not texts or texts == ["-"]:
        texts = [line.rstrip("\n") for line in stdin if line.strip()]
    if not texts:
        raise CLIError("no expressions given (pass them as arguments or one per line on stdin)")
    results = predict(model, ck.config.dataset.task, texts, top_k=max(1, a.top))
    bad = 0
    for r in results:
        if a.json:
            out.write(json.dumps(r.to_dict()) + "\n")
            bad += r.error is not None
            continue
        if r.error:
            bad += 1
            err.write(f"error: {shorten(r.text)!r}: {r.error}\n")
            continue
        mark = "✓" if r.correct else f"✗ (true answer {r.truth})"
        top = ", ".join(f"{ans}: {p:.1%}" for ans, p in r.top)
        out.write(f"{r.expression} → {r.answer if r.answer is not None else 'no answer'} {mark}   [{top}]\n")
    return 1 if bad else 0


def cmd_models(a: argparse.Namespace, out: TextIO) -> int:
    """Your models (``user_models_dir()``), then the shipped ones, marked (read-only)."""
    infos = list_checkpoints()
    if a.json:
        out.write(json.dumps([{"name": i.name, "kind": i.kind, "task": i.task, "step": i.step,
                               "metrics": i.metrics, "saved_at": i.saved_at, "error": i.error,
                               "shipped": i.shipped, "path": str(i.path)}
                              for i in infos]) + "\n")
        return 0
    if not infos:
        out.write("no saved models\n")
    width = max((len(i.name) for i in infos), default=0)
    for i in infos:
        mark = "  [shipped]" if i.shipped else ""
        if i.error:
            out.write(f"{i.name:<{width}}  unreadable: {i.error}{mark}\n")
            continue
        acc = i.metrics.get("test_accuracy")
        acc_s = f"test {acc:.2%}" if isinstance(acc, int | float) else "test –"
        out.write(f"{i.name:<{width}}  {i.kind:<7}  {i.task}  {acc_s}  step {i.step:,}{mark}\n")
    out.write(f"your models: {user_models_dir()}\nshipped (read-only): {shipped_models_dir()}\n")
    return 0


def package_version() -> str:
    """The installed package's version (from its metadata)."""
    try:
        return importlib.metadata.version("llmlearn-workbench")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def cmd_app(mouse: bool = True) -> int:
    try:
        from workbench.app import run_app
    except ImportError as exc:
        raise CLIError(f"the interactive workbench needs its UI dependencies ({exc}); reinstall with "
                       "pip install -e . (or use 'workbench train', 'eval', 'predict', 'models')") from None
    return int(run_app(mouse=mouse) or 0)


def cmd_serve(a: argparse.Namespace, err: TextIO) -> int:
    """Serve the app over HTTP: each browser connection runs its own ``workbench app`` process. Only
    requests for the bound host, from the served origin, with the per-launch token pass (``workbench.serve``)."""
    try:
        from workbench.serve import LOOPBACK, Guard, guarded_server
    except ImportError as exc:
        raise CLIError(f"'workbench serve' needs textual-serve ({exc})") from None
    if not 1 <= a.port <= 65535:
        raise CLIError(f"--port must be between 1 and 65535, got {a.port}")
    if a.host not in LOOPBACK:
        err.write(f"warning: serving on {a.host}: anyone on the network who has the printed URL (with its token) "
                  f"can drive the workbench — train, save and load models in your models folder — so share it "
                  f"only over a network you trust\n")
    guard = Guard.for_server(a.host, a.port, a.public_url)
    command = f"{shlex.quote(sys.executable)} -m workbench app"
    guarded_server(command, a.host, a.port, "llmlearn workbench", a.public_url, guard).serve()
    return 0


def shorten(text: str, limit: int = 80) -> str:
    """An input echoed in an error message: whole when short, else its start and its length."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def _tolerant_stdio(*streams: TextIO) -> None:
    """Answers and errors must not crash on a terminal or pipe whose encoding cannot show them (ASCII,
    strict UTF-8 with bad input bytes): unencodable characters are escaped, undecodable ones replaced."""
    for stream in streams:
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):  # a stream in use in a way that cannot change
                reconfigure(errors="replace" if stream is sys.stdin else "backslashreplace")


def main(argv: Sequence[str] | None = None, stdin: TextIO | None = None, stdout: TextIO | None = None,
         stderr: TextIO | None = None) -> int:
    out, err, inp = stdout or sys.stdout, stderr or sys.stderr, stdin or sys.stdin
    _tolerant_stdio(out, err, inp)
    parser = _parser()
    try:
        a = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed its one-line usage error
        return int(exc.code or 0) if exc.code in (0, None) else EXIT_USAGE
    try:
        if a.version:
            out.write(f"workbench {package_version()}\n")
            return 0
        if a.command in (None, "app"):
            return cmd_app(mouse=not getattr(a, "no_mouse", False))
        if a.command == "serve":
            return cmd_serve(a, err)
        if a.command == "train":
            return cmd_train(a, out, err)
        if a.command == "eval":
            return cmd_eval(a, out, err)
        if a.command == "predict":
            return cmd_predict(a, out, err, inp)
        return cmd_models(a, out)
    except (CLIError, LLMLearnError) as exc:
        err.write(f"error: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        err.write("interrupted\n")
        return 130
