"""Snapshot tests: every pane as a newcomer first sees it, at 80×24 (SSH) and 160×50.

The pictures are SVGs under ``tests/__snapshots__/``; a change in what a pane shows fails the test and
writes a side-by-side report. After an intended change, look at the report, then refresh them with
``.venv/bin/python -m pytest tests/test_snapshots.py --snapshot-update``.

Only states that do not depend on timing are pictured (no run, no live numbers): the charts' and
counters' live behaviour is asserted on widget state in the other app tests.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.worker import WorkerCancelled, WorkerFailed

from tests.app_support import isolated_models_dir  # noqa: F401 (autouse: an empty user models folder)
from workbench.app import PANES, WorkbenchApp

SIZES = ((80, 24), (160, 50))


async def _settle(pilot: Pilot[int]) -> None:
    """Let the panes finish their start-up work (model lists are read in workers; a worker replaced by a
    newer one of its group ends cancelled, which is fine here)."""
    app = pilot.app
    deadline = time.monotonic() + 20
    while True:
        with contextlib.suppress(WorkerCancelled, WorkerFailed):
            await app.workers.wait_for_complete()
        await pilot.pause()
        if not any(w.is_running for w in app.workers):
            break
        assert time.monotonic() < deadline, "the panes' start-up workers did not finish"
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("pane", [p for p, _, _ in PANES])
def test_pane_snapshot(snap_compare, pane: str, size: tuple[int, int], tmp_path: Path,  # type: ignore[no-untyped-def]
                       monkeypatch: pytest.MonkeyPatch) -> None:
    if pane == "runs":  # it names the runs folder: one that is the same in every test run (and has no runs)
        monkeypatch.setenv("LLMLEARN_DATA", "/nonexistent/llmlearn-data")
    assert snap_compare(WorkbenchApp(initial_pane=pane), terminal_size=size, run_before=_settle)


async def _open_lesson_3(pilot: Pilot[int]) -> None:
    """Lesson 3 open, its live cells computed on the shipped encoder-digits (deterministic numbers)."""
    await _settle(pilot)
    pane = pilot.app.query_one("#learn-pane")
    pane.open_lesson(2)  # type: ignore[attr-defined]
    await pilot.pause()
    await _settle(pilot)
    deadline = time.monotonic() + 30
    while not pane.idle:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "the lesson's cells did not finish"
        await pilot.pause(0.05)
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_a_lesson_snapshot(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(WorkbenchApp(initial_pane="learn"), terminal_size=size, run_before=_open_lesson_3)
