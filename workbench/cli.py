"""The ``workbench`` command: headless training, evaluation and prediction on the NumPy core.

    workbench train   [task, model and optimizer options] [--out NAME]   (flags from core.train.options)
    workbench train   --resume NAME [--epochs N]   continue a saved run, up to N epochs in total
    workbench eval    NAME [--split test]         (and probes outside the training task, reported apart)
    workbench counterexamples NAME [--threshold 0.99] [--per-region 200] [--seed 0]
    workbench predict NAME "Max(3, 7, 2)" …      (or one expression per line on stdin)
    workbench ablate | patch | attribute | circuits NAME …   the Lab (see workbench.cli_lab)
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
import shlex
import sys
from collections.abc import Sequence
from typing import TextIO

from core.data.answer_format import format_answer
from core.errors import LLMLearnError
from core.probe.generalisation import probe_generalisation
from core.probe.inference import predict
from core.train.checkpoint import list_checkpoints, read_checkpoint, shipped_models_dir, user_models_dir
from core.train.report import build_report
from core.train.slices import slicing_line
from workbench import cli_lab, cli_runs
from workbench.cli_probe import add_parser as add_counterexamples_parser
from workbench.cli_probe import cmd_counterexamples, render_generalisation
from workbench.cli_trace import add_parser as add_trace_parser
from workbench.cli_trace import cmd_trace
from workbench.cli_train import CLIError, add_train_parser, cmd_train, given_options

__all__ = ["CLIError", "cmd_train", "given_options", "main"]  # cmd_train lives in workbench.cli_train

EXIT_USAGE = 2


# -- argument parsing --------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="workbench", description="Train a tiny transformer from scratch in NumPy.")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    p.add_argument("--no-mouse", action="store_true", help="with no command (the app): do not capture the mouse")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    add_train_parser(sub)

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

    add_trace_parser(sub)
    add_counterexamples_parser(sub)
    cli_runs.add_parser(sub)
    cli_lab.add_parsers(sub)

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
    probes = probe_generalisation(run.model, task)  # after the report, and apart: never in its accuracy
    if a.json:
        out.write(json.dumps({**report.to_dict(max_mistakes=a.mistakes), "generalisation": probes.to_dict()}) + "\n")
        return 0
    out.write(f"{a.name} · {task.describe()} · {a.split}: accuracy {report.accuracy:.2%} "
              f"({report.n - len(report.mistakes):,}/{report.n:,}), loss {report.loss:.4f}\n")
    out.write("by operation:  " + "  ".join(f"{k} {v:.1%}" for k, v in report.accuracy_by_op.items()) + "\n")
    out.write("by arguments:  " + "  ".join(f"{k}: {v:.1%}" for k, v in report.accuracy_by_nargs.items()) + "\n")
    if report.train_accuracy is not None:
        out.write(f"train accuracy (sample): {report.train_accuracy:.2%}\n")
    if task.num_classes <= 10 and report.confusion.any():  # a list answer (Sort) has no cell
        out.write("confusion (rows: true answer, columns: predicted; '-' no answer)\n")
        out.write("      " + " ".join(f"{c:>5}" for c in range(task.num_classes)) + "     -\n")
        for t, row in enumerate(report.confusion):
            out.write(f"{t:>5} " + " ".join(f"{int(v):>5}" for v in row) + "\n")
    if report.slices:
        out.write("by slice:\n")
        for key, group in report.slices.items():
            out.write(slicing_line(key, group) + "\n")
        worst = report.worst_slices(1)
        if worst:
            s = worst[0]
            out.write(f"lowest slice: {s.title} at {s.accuracy:.1%} ({s.correct:,}/{s.n:,})\n"[:80].rstrip() + "\n")
    confusions = report.top_confusions()
    if confusions:
        out.write("most frequent errors: " + ", ".join(
            f"{t}→{'none' if p < 0 else p} ×{n}" for t, p, n in confusions) + "\n")
    if report.mistakes:
        out.write(f"mistakes ({len(report.mistakes)}):\n")
        for m in report.mistakes[: a.mistakes]:
            pred = "no answer" if m.predicted == -1 else format_answer(m.predicted)
            out.write(f"  {m.expression} = {format_answer(m.truth)}, model said {pred}\n")
    for w in report.warnings:
        out.write(f"warning: {w}\n")
    out.write(render_generalisation(probes))
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
        mark = "✓" if r.correct else f"✗ (true answer {format_answer(r.truth)})"
        top = ", ".join(f"{format_answer(ans)}: {p:.1%}" for ans, p in r.top)
        said = "no answer" if r.answer is None else format_answer(r.answer)
        out.write(f"{r.expression} → {said} {mark}   [{top}]\n")
    return EXIT_USAGE if bad else 0  # bad input, like every command (the good lines were still answered)


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
        low = i.metrics.get("test_min_slice_accuracy")
        acc_s += f" (slices ≥ {low:.1%})" if isinstance(low, int | float) else ""
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
        a, extra = parser.parse_known_args(argv)
        if extra and a.command == "predict" and not any(x.startswith("-") and x != "-" for x in extra):
            # `predict NAME --json EXPR` (or `-`, stdin): argparse ends the positionals at --json
            a.expressions += extra
        elif extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
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
        if a.command == "trace":
            return cmd_trace(a, out, err)
        if a.command == "counterexamples":
            return cmd_counterexamples(a, out, err)
        if a.command == "runs":
            return cli_runs.cmd_runs(a, out, err)
        if a.command in cli_lab.COMMANDS:
            return cli_lab.run(a, out, err)
        return cmd_models(a, out)
    except (CLIError, LLMLearnError) as exc:
        err.write(f"error: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        err.write("interrupted\n")
        return 130
