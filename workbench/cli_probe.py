"""``workbench counterexamples NAME``: where a saved model is wrong on inputs people type; and the
generalisation section of ``workbench eval``.

    workbench counterexamples encoder-digits                        a table of regions, weak ones marked
    workbench counterexamples NAME --threshold 0.95 --per-region 500 --seed 1 --json

The text renderers (``render_counterexamples``, ``render_generalisation``) are Textual-free, for the
app's views to reuse.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from core.data.task import TaskConfig
from core.probe.counterexamples import (
    DEFAULT_PER_REGION,
    DEFAULT_THRESHOLD,
    CounterexampleReport,
    Failure,
    RegionResult,
    find_counterexamples,
)
from core.probe.generalisation import OUTSIDE, GeneralisationReport
from core.train.checkpoint import read_checkpoint

SHOWN_FAILURES = 3  # failing examples printed per region (--json has up to core's DEFAULT_MAX_FAILURES)

EXIT_STATUS = """exit status: 0 the search ran, whether or not it found weak regions (they are marked in the
table, and listed under "weak" with --json); 2 bad arguments or a model that cannot be read; 130 interrupted."""


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """The defaults shown, and the exit-status epilog kept as written."""


def add_parser(sub: Any) -> None:
    """Register ``counterexamples`` on the ``workbench`` command's subparsers."""
    c = sub.add_parser("counterexamples", help="find where a saved model is wrong on inputs people type",
                       formatter_class=_Formatter, epilog=EXIT_STATUS,
                       description="Generate inputs region by region (small numbers, ties, all equal, sorted, "
                                   "the app's examples, …) and report the model's accuracy on each.")
    c.add_argument("name", help="a saved or shipped model")
    c.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                   help="a region whose accuracy is below this (0–1) is weak")
    c.add_argument("--per-region", type=int, default=DEFAULT_PER_REGION,
                   help="examples per region (distinct; fewer when the region is smaller)")
    c.add_argument("--seed", type=int, default=0, help="the same seed gives the same examples")
    c.add_argument("--json", action="store_true", help="print one JSON object")


def cmd_counterexamples(a: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    ck = read_checkpoint(a.name)
    task = ck.config.dataset.task
    report = find_counterexamples(ck.build_model(), task, a.threshold, a.per_region, a.seed)
    if a.json:
        out.write(json.dumps({"model": a.name, "task": task.to_dict(), **report.to_dict()}) + "\n")
    else:
        out.write(render_counterexamples(report, a.name, task))
    return 0


# -- text ----------------------------------------------------------------------------------------------
def _answer(f: Failure) -> str:
    return "no answer" if f.answer is None else str(f.answer)


def _lowest_operation(r: RegionResult) -> str:
    if not r.by_operation:
        return "–"
    op, acc = min(r.by_operation.items(), key=lambda kv: kv[1])
    return f"{op} {acc:.1%}" if acc < 1.0 else "–"


def render_counterexamples(report: CounterexampleReport, name: str, task: TaskConfig) -> str:
    """The regions as a table (weak ones marked ✗), then a few failing examples of each region."""
    lines = [f"{name} · {task.describe()}",
             f"counterexample search: up to {report.per_region:,} examples per region, seed {report.seed}; "
             f"weak below {report.threshold:.1%}", ""]
    width = max((len(r.title) for r in report.regions), default=6)
    lines.append(f"     {'region':<{width}}  {'n':>6}  {'accuracy':>8}  lowest operation")
    weak = set(report.weak)
    for r in report.regions:
        mark = "✗ " if r.name in weak else "  "
        lines.append(f"  {mark} {r.title:<{width}}  {r.n:>6,}  {r.accuracy:>8.1%}  {_lowest_operation(r)}")
    for s in report.skipped:
        lines.append(f"  skipped: {s.title} ({s.reason})")
    lines.append("")
    if weak:
        titles = [r.title for r in report.regions if r.name in weak]
        lines.append(f"weak ({len(titles)} of {len(report.regions)} regions): {', '.join(titles)}")
    else:
        lines.append(f"no weak region: every region is at or above {report.threshold:.1%}")
    failing = [r for r in report.regions if r.failures]
    if failing:
        lines.append("failing examples:")
    for r in failing:
        lines.append(f"  {r.title} ({r.description}):")
        lines.extend(f"    {f.expression} = {f.expected}, model said {_answer(f)}" for f in r.failures[:SHOWN_FAILURES])
    return "\n".join(lines) + "\n"


def render_generalisation(report: GeneralisationReport) -> str:
    """``eval``'s separate section: each probe outside the training task, and the skipped ones."""
    lines = [f"{OUTSIDE} (generalisation probes; not part of the accuracy above):"]
    width = max((len(t) for t in [*(p.title for p in report.probes), *(s.title for s in report.skipped)]), default=6)
    for p in report.probes:
        lines.append(f"  {p.title:<{width}}  accuracy {p.accuracy:>6.1%}  (n {p.n:,})  "
                     f"{p.description.removesuffix(f'; {OUTSIDE}')}")
        if len(p.by_n_args) > 1:
            lines.append(f"  {'':<{width}}  by arguments: " +
                         "  ".join(f"{k}: {v:.0%}" for k, v in p.by_n_args.items()))
        lines.extend(f"  {'':<{width}}  {f.expression} = {f.expected}, model said {_answer(f)}"
                     for f in p.failures[:2])
    for s in report.skipped:
        lines.append(f"  {s.title:<{width}}  skipped: {s.reason}")
    return "\n".join(lines) + "\n"
