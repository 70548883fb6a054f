"""Snapshot tests of the Trace view: a forward attention stage of the shipped encoder-digits, at 80×24
(the stage list hidden) and 160×50 (beside it). Refresh after an intended change with
``.venv/bin/python -m pytest -n 0 tests/test_snapshots_trace.py --snapshot-update``."""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from tests.app_support import isolated_models_dir, wait_for  # noqa: F401 (autouse: an empty user models folder)
from tests.test_snapshots import SIZES, _settle
from workbench.app import WorkbenchApp
from workbench.model_source import CheckpointModelSource
from workbench.screens.trace import TraceScreen, open_trace


async def _attention_stage(pilot: Pilot[int]) -> None:
    app = pilot.app
    await _settle(pilot)
    open_trace(app, CheckpointModelSource("encoder-digits"), "ck:encoder-digits", "Max(3, 7, 2)")
    await wait_for(pilot, lambda: isinstance(app.screen, TraceScreen) and app.screen.trace is not None,
                   what="the trace")
    await pilot.press("slash", *"blocks.0.attn.softmax", "enter")
    screen = app.screen
    assert isinstance(screen, TraceScreen) and screen.trace is not None
    assert screen.trace.pages()[screen.index][1].name == "blocks.0.attn.softmax"
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_trace_attention_snapshot(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(WorkbenchApp(initial_pane="training"), terminal_size=size, run_before=_attention_stage)
