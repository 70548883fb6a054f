"""Memory stays flat under pane switches and settings toggles (issue 9).

Textual's ``Footer`` kept every key it ever showed alive (a ``data_bind`` watcher per key, stored on the
footer and never pruned): ~30 dead widgets per settings toggle and ~37 per pane switch. These tests count
live ``Widget`` objects with ``gc`` and the traced Python heap, which is what grew; RSS is left to
``benchmarks/app_memory.py`` (it moves with the allocator, not only with what Python keeps).
"""

from __future__ import annotations

import gc
import tracemalloc

from textual.widgets import TabbedContent
from textual.widgets._footer import FooterKey

from benchmarks.app_memory import live_widgets, switches, toggles
from tests.app_support import isolated_models_dir  # noqa: F401 (autouse: checkpoints go to a tmp dir)
from workbench.app import WorkbenchApp
from workbench.widgets.footer import WorkbenchFooter

N = 6  # toggles and switches each (~20 s): the old footer kept ~400 widgets and ~8 MB over these
WIDGET_SLACK = 5  # e.g. a notification or tooltip that happens to be alive at one count and not the other
HEAP_BOUND = 3 * 2**20  # measured at N=8: the old footer kept 11.2 MB, WorkbenchFooter -0.05 MB


async def test_pane_switches_and_settings_toggles_leave_no_widgets_or_heap_behind() -> None:
    app = WorkbenchApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await switches(pilot, 8)  # each pane twice: lazy parts and first-use caches are built
        # Tracing costs ~2.5x per action, so it starts late; one more round of each pane and a toggle
        # then replaces the render caches with traced entries, so that their churn is not counted.
        tracemalloc.start(1)
        try:
            await switches(pilot, 4)
            await toggles(pilot, 2)
            await pilot.pause()
            gc.collect()
            widgets, heap = live_widgets(), tracemalloc.get_traced_memory()[0]
            await toggles(pilot, N)
            await switches(pilot, N)
            await pilot.pause()
            gc.collect()
            kept = tracemalloc.get_traced_memory()[0] - heap
        finally:
            tracemalloc.stop()
        grown = live_widgets() - widgets
    assert abs(grown) <= WIDGET_SLACK, f"{grown:+d} live widgets after {N} toggles and {N} switches"
    assert kept < HEAP_BOUND, f"{N} toggles and {N} switches kept {kept / 2**20:.1f} MB of Python heap"


def footer_keys(app: WorkbenchApp) -> list[str]:
    return [key.description for key in app.query(FooterKey)]


async def test_the_footer_shows_the_keys_of_the_pane_and_follows_it() -> None:
    """Same keys as Textual's Footer: the app's, plus the focused pane's own, updated on a switch."""
    app = WorkbenchApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        training = footer_keys(app)
        assert {"Help", "Run", "Step", "Epoch", "Stop", "Save", "Load", "Quit"} <= set(training)
        assert "Refresh" not in training
        await pilot.press("f5")
        assert app.query_one("#panes", TabbedContent).active == "inspector"
        inspector = footer_keys(app)
        assert {"Refresh", "Grad check", "Evaluate"} <= set(inspector)
        assert set(training) <= set(inspector)
        await pilot.press("f3")
        assert footer_keys(app) == training
        assert all(key.has_class("-compact") for key in app.query(FooterKey))
        app.query_one(WorkbenchFooter).compact = False  # the keys follow without a data binding
        await pilot.pause()
        assert not any(key.has_class("-compact") for key in app.query(FooterKey))
