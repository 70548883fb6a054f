"""The runs table, as text: which runs to show, in what order, and each one's cells — shared by
``workbench runs`` and the Runs pane."""

from __future__ import annotations

from typing import Any

from core.train.records import RunSummary

SORT_KEYS = ("started", "steps", "best", "time", "task")


def sort_runs(runs: list[RunSummary], key: str) -> list[RunSummary]:
    """Runs ordered by ``key`` (started: newest first; steps, best, time: largest first; task: A–Z)."""
    if key == "task":
        return sorted(runs, key=lambda r: str(r.meta.get("task", "")))
    field = {"steps": "steps", "best": "best_val_accuracy", "time": "elapsed_s"}.get(key)
    if field is None:
        return sorted(runs, key=lambda r: str(r.meta.get("started_at") or ""), reverse=True)

    def number(r: RunSummary) -> float:
        value = r.meta.get(field)
        return float(value) if isinstance(value, int | float) else -1.0

    return sorted(runs, key=number, reverse=True)


def filter_runs(runs: list[RunSummary], text: str) -> list[RunSummary]:
    text = text.strip().lower()
    if not text:
        return runs
    return [r for r in runs if any(text in str(v).lower() for v in
                                   (r.id, r.status, r.meta.get("task"), r.meta.get("model"), r.meta.get("optimizer"),
                                    r.meta.get("source")))]


def percent(x: Any) -> str:
    return f"{x:.1%}" if isinstance(x, int | float) else "–"


def duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "–"
    s = round(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def table_rows(runs: list[RunSummary]) -> list[tuple[str, ...]]:
    """One row per run: id, status, best val accuracy, steps, time, then task, model, optimiser — the
    figures first, so they stay on screen at 80 columns (the table scrolls sideways for the rest)."""
    return [(r.id, r.status, percent(r.meta.get("best_val_accuracy")), f"{r.meta.get('steps', 0):,}",
             duration(r.meta.get("elapsed_s")), str(r.meta.get("task", "?")), str(r.meta.get("model", "?")),
             str(r.meta.get("optimizer", "?"))) for r in runs]


HEADERS = ("id", "status", "best val", "steps", "time", "task", "model", "optimiser")
