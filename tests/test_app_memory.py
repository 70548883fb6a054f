"""Memory stays flat under pane switches and settings toggles (issue 9).

Textual's ``Footer`` kept every key it ever showed alive (a ``data_bind`` watcher per key, stored on the
footer and never pruned): ~30 dead widgets per settings toggle and ~37 per pane switch. The test counts
live ``Widget`` objects with ``gc`` (what grew); the traced heap and RSS over 200 toggles and 200
switches are measured by ``benchmarks/app_memory.py``.
"""

from __future__ import annotations

import gc

from textual.widgets import TabbedContent
from textual.widgets._footer import FooterKey

from benchmarks.app_memory import live_widgets, switches, toggles
from tests.app_support import (
    isolated_models_dir,  # noqa: F401 (autouse: checkpoints go to a tmp dir)
    wait_for,
)
from workbench.app import WorkbenchApp
from workbench.widgets.footer import WorkbenchFooter

N = 4  # toggles and switches each: the old footer kept ~300 dead widgets over these
WIDGET_SLACK = 5  # e.g. a notification or tooltip that happens to be alive at one count and not the other


async def test_pane_switches_and_settings_toggles_leave_no_widgets_behind() -> None:
    app = WorkbenchApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await switches(pilot, 5)  # each pane once: lazy parts and first-use caches are built
        await toggles(pilot, 1)
        await pilot.pause()
        gc.collect()
        widgets = live_widgets()
        await toggles(pilot, N)
        await switches(pilot, N)
        await pilot.pause()
        gc.collect()
        grown = live_widgets() - widgets
    assert abs(grown) <= WIDGET_SLACK, f"{grown:+d} live widgets after {N} toggles and {N} switches"


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
        await pilot.press("f5")  # the Inspector's first visit builds it; the footer follows once it is there
        assert app.query_one("#panes", TabbedContent).active == "inspector"
        await wait_for(pilot, lambda: {"Refresh", "Grad check", "Evaluate"} <= set(footer_keys(app)),
                       what="the Inspector's keys")
        inspector = footer_keys(app)
        chart_keys = {"Smooth", "Log y", "Log x"}  # the Training pane's charts' own
        assert chart_keys <= set(training) and not chart_keys & set(inspector)
        assert set(training) - chart_keys <= set(inspector)
        await pilot.press("f3")
        assert footer_keys(app) == training
        assert all(key.has_class("-compact") for key in app.query(FooterKey))
        app.query_one(WorkbenchFooter).compact = False  # the keys follow without a data binding
        await pilot.pause()
        assert not any(key.has_class("-compact") for key in app.query(FooterKey))
