"""``workbench runs``: the recorded runs as a table; ``runs ID …``: one run, or several compared.

    workbench runs                       every run, newest first (--sort, --filter, --json)
    workbench runs 20261203-1705         one run: its settings, how it went, its checkpoints
    workbench runs ID ID [ID …]          the settings in which they differ, and their metrics side by side
                                         at the same steps
"""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from core.train.dynamics import detect_events, summary_lines
from core.train.records import RunSummary, find_run, list_runs, read_series, runs_dir
from core.train.run_comparison import aligned, common_steps, config_differences, setting_text, short_name
from workbench.render.run_table import HEADERS, SORT_KEYS, duration, filter_runs, percent, sort_runs, table_rows

COMPARED = ("train/loss", "val/loss", "val/accuracy")


def add_parser(sub: Any) -> None:
    r = sub.add_parser("runs", help="list recorded runs; with ids, show one or compare several")
    r.add_argument("ids", nargs="*", help="run ids (a unique start is enough): one to show, several to compare")
    r.add_argument("--sort", choices=SORT_KEYS, default="started", help="order of the table (default: started)")
    r.add_argument("--filter", default="", metavar="TEXT",
                   help="only runs whose task, model, optimiser, status or id contain TEXT")
    r.add_argument("--json", action="store_true")


def cmd_runs(a: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if a.ids:
        chosen = [find_run(i) for i in a.ids]
        return _show(chosen[0], a, out) if len(chosen) == 1 else _compare(chosen, a, out)
    runs, warnings = list_runs()
    for w in warnings:
        err.write(f"warning: {w}\n")
    runs = sort_runs(filter_runs(runs, a.filter), a.sort)
    if a.json:
        out.write(json.dumps([r.to_dict() for r in runs]) + "\n")
        return 0
    if not runs:
        out.write(f"no recorded runs{' matching ' + repr(a.filter) if a.filter else ''} in {runs_dir()}\n"
                  "(every run trained in the app or with `workbench train` is recorded there)\n")
        return 0
    rows = [HEADERS, *table_rows(runs)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS))]
    for row in rows:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n")
    out.write(f"{len(runs)} run{'s' if len(runs) != 1 else ''} in {runs_dir()}\n")
    return 0


def _show(run: RunSummary, a: argparse.Namespace, out: TextIO) -> int:
    series = read_series(run.dir)
    if a.json:
        events = [{"step": e.step, "kind": e.kind, "text": e.text} for e in detect_events(series)]
        out.write(json.dumps({**run.to_dict(), "events": events, "series": {k: {"steps": s, "values": v}
                                                                            for k, (s, v) in series.items()}}) + "\n")
        return 0
    m = run.meta
    out.write(f"run {run.id} ({m.get('source', '?')}, {run.status})\n")
    for label, key in (("task", "task"), ("model", "model"), ("optimiser", "optimizer")):
        out.write(f"  {label}: {m.get(key, '?')}\n")
    best = m.get("best_val_accuracy")
    out.write(f"  steps {m.get('steps', 0):,} in {duration(m.get('elapsed_s'))}; best validation accuracy "
              f"{percent(best)}" + (f" at step {m['best_step']:,}" if isinstance(m.get("best_step"), int) else "")
              + (f"; test {percent(m['test_accuracy'])}" if "test_accuracy" in m else "") + "\n")
    if m.get("resumed_from"):
        out.write(f"  continued {m['resumed_from']} from step {m.get('start_step', 0):,}\n")
    for e in m.get("edits", []):
        out.write(f"  step {e.get('step', 0):,}: {e.get('field')} = {e.get('value')}\n")
    for c in m.get("checkpoints", []):
        out.write(f"  saved {c.get('name')} at step {c.get('step', 0):,}\n")
    happened = summary_lines(detect_events(series))
    if happened:
        out.write("what happened:\n" + "".join(f"  {line}\n" for line in happened))
    out.write(f"  {sum(len(s) for s, _ in series.values()):,} recorded points in {run.dir}\n")
    return 0


def _compare(runs: list[RunSummary], a: argparse.Namespace, out: TextIO) -> int:
    diffs = config_differences([r.config for r in runs])
    all_series = [read_series(r.dir) for r in runs]
    per_metric = {name: [s.get(name, ([], [])) for s in all_series] for name in COMPARED}
    steps = common_steps([s for group in per_metric.values() for s in group], 6)
    table = {name: aligned(group, steps) for name, group in per_metric.items()}
    if a.json:
        out.write(json.dumps({"runs": [r.id for r in runs], "differences": diffs, "steps": steps,
                              "metrics": table}) + "\n")
        return 0
    out.write("runs: " + ", ".join(f"[{i + 1}] {r.id}" for i, r in enumerate(runs)) + "\n")
    if not diffs:
        out.write("same settings, seed included: any difference between the runs is not the settings' doing\n")
    else:
        out.write("settings that differ:\n")
        for name, values in diffs.items():
            cells = "  ".join(f"[{i + 1}] {setting_text(v)}" for i, v in enumerate(values))
            out.write(f"  {short_name(name):<16} {cells}\n")
    for name, rows in table.items():
        out.write(f"{name} at the same steps:\n")
        for step, row in zip(steps, rows, strict=True):
            cells = "  ".join(f"[{i + 1}] {v:.4g}" if v is not None else f"[{i + 1}] –" for i, v in enumerate(row))
            out.write(f"  step {step:>8,}  {cells}\n")
    return 0
