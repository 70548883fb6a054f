"""The Inspector's counterexample search: x (or the button) finds the input regions where the model is
below the threshold, lists them in a table with their failing examples, and Enter on a failure opens it
in the Inference console.

The weak models here are untrained tiny ones, written by the test itself (never the shipped models in
saved_models/, whose weaknesses change when they are retrained): an untrained model is wrong almost
everywhere, so every region it can be asked about is weak."""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual.widgets import Button, DataTable, TabbedContent

from core.data.task import TaskConfig
from core.nn.models.factory import copy_model
from core.probe.counterexamples import CounterexampleReport, find_counterexamples, search_counterexamples
from core.train.checkpoint import save_checkpoint
from core.train.run import Run
from tests.app_support import (
    isolated_models_dir,  # noqa: F401 (autouse: checkpoints go to a tmp dir)
    static_text,
    wait_for,
)
from tests.conftest import tiny_config
from tests.probe_app_support import BothHost, InspectorHost, inspector_idle, wait_until
from workbench.app import WorkbenchApp
from workbench.model_source import FixedModelSource
from workbench.panes.inference import InferencePane
from workbench.panes.inspector import InspectorPane
from workbench.widgets.counterexample_view import percent, summary_text

PER_REGION = 20  # small: the whole search of a tiny model takes well under a second


def cell(table: DataTable[object], key: str, column: int) -> str:
    value = table.get_row(key)[column]
    return value.plain if isinstance(value, Text) else str(value)


def check_table(table: DataTable[object], report: CounterexampleReport) -> None:
    """One row per region (✗ when weak) and per skipped region (with the reason), then the failures."""
    weak = set(report.weak)
    for r in report.regions:
        key = f"region:{r.name}"
        assert cell(table, key, 0) == ("✗" if r.name in weak else "✓")
        assert cell(table, key, 1) == f"{r.accuracy:.1%}"
        assert cell(table, key, 2) == f"{r.n:,}"
        assert cell(table, key, 3) == r.title
    for s in report.skipped:
        assert cell(table, f"skipped:{s.name}", 1) == "skipped"
        assert cell(table, f"skipped:{s.name}", 4) == s.reason
    failures = [f for r in report.regions if r.name in weak for f in r.failures]
    for i, f in enumerate(failures):
        assert cell(table, f"failure:{i}", 3).strip() == f"{f.expression} = {f.expected}"
        assert cell(table, f"failure:{i}", 1) == ("no answer" if f.answer is None else f"said {f.answer}")
    headings = sum(1 for r in report.regions if r.name in weak and r.failures)
    assert table.row_count == len(report.regions) + len(report.skipped) + headings + len(failures)


async def test_an_untrained_model_is_weak_everywhere_and_a_failure_opens_in_the_console() -> None:
    run = Run(tiny_config())  # never trained
    task = run.config.dataset.task
    app = BothHost(FixedModelSource(run.model, task, "tiny encoder"))
    async with app.run_test(size=(120, 40)) as pilot:
        inspector = app.query_one(InspectorPane)
        inspector.cx_per_region = PER_REGION
        await inspector_idle(pilot, inspector)
        await app.run_action("focus('insp-tree')")
        await pilot.press("x")  # the pane's key, shown in the footer
        await wait_until(pilot, lambda: inspector.idle and inspector.cx is not None, what="the search")
        assert inspector.cx is not None
        report = inspector.cx.report
        # exactly the core's search on that model (the pane searched a copy; the same seed, the same inputs)
        expected = find_counterexamples(copy_model(run.model), task, 0.99, PER_REGION)
        assert report.to_dict() == expected.to_dict()
        assert report.weak == [r.name for r in report.regions] and report.skipped  # 0–9, no nesting: skips

        table = app.query_one("#insp-cx", DataTable)
        assert table.display
        check_table(table, report)
        summary = static_text(app, "#insp-cx-summary")
        titles = [r.title for r in report.regions]
        assert summary.startswith(f"Regions where tiny encoder is below 99%: {', '.join(titles[:3])} and "
                                  f"{len(titles) - 3} more ({len(titles)} of {len(titles)}, marked ✗).")
        assert "Enter on a ✗ region" in summary and f"up to {PER_REGION} examples per region, seed 0" in summary

        # the table has the keyboard, its cursor on the first weak region; Enter: its failing examples
        assert table.has_focus and table.cursor_row == table.get_row_index(f"region:{report.regions[0].name}")
        await pilot.press("enter")
        assert table.cursor_row == table.get_row_index("failure:0")
        await pilot.press("down", "enter")  # the region's second failing example
        chosen = report.regions[0].failures[1]
        inference = app.query_one(InferencePane)
        await wait_until(pilot, lambda: inference.idle and inference.results, what="the console answer")
        assert app.opened == [chosen.expression]
        assert app.query_one("#panes", TabbedContent).active == "inference"
        result = inference.results[-1]
        assert result.text == chosen.expression and result.answer == chosen.answer and not result.correct
        assert f"› {chosen.expression}" in inference.console_text()


async def test_from_the_app_an_untrained_checkpoint_is_searched_and_a_failure_opens_in_inference() -> None:
    """The whole route in the workbench at 80×24: a checkpoint of an untrained decoder picked in the
    Inspector, the Counterexamples button, Enter on a failing example → the Inference pane answers it."""
    save_checkpoint(Run(tiny_config("decoder")), "untrained-decoder")
    app = WorkbenchApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.run_action("show_pane('inspector')")
        pane = app.query_one(InspectorPane)
        pane.cx_per_region = 5
        pane.pick("untrained-decoder")
        await wait_for(pilot, lambda: pane.idle, what="the inspector")
        assert pane.choice == "ck:untrained-decoder"
        # pressed, not clicked: the Parameter section scrolls itself into view once the model is read, so a
        # click at fixed coordinates could land on whatever has scrolled there by then
        app.query_one("#insp-cx-run", Button).press()
        await wait_for(pilot, lambda: pane.idle and pane.cx is not None, what="the search")
        assert pane.cx is not None and pane.cx_choice == "ck:untrained-decoder"
        report = pane.cx.report
        assert report.weak and report.per_region == 5
        table = app.query_one("#insp-cx", DataTable)
        check_table(table, report)
        assert static_text(app, "#insp-cx-summary").startswith("Regions where untrained-decoder is below 99%:")
        detail = app.query_one("#insp-detail")  # the section scrolls into view, at 80×24
        await wait_for(pilot, lambda: detail.region.contains_region(app.query_one("#insp-cx-summary").region),
                       what="the counterexample summary in view")

        first = next(r for r in report.regions if r.name in report.weak and r.failures)
        table.focus()
        table.move_cursor(row=table.get_row_index(f"region:{first.name}"))
        await pilot.press("enter", "enter")  # the region → its first failing example → the console
        inference = app.query_one(InferencePane)
        await wait_for(pilot, lambda: app.query_one("#panes", TabbedContent).active == "inference"
                       and inference.idle and inference.results, what="the Inference pane's answer")
        assert inference.choice == "ck:untrained-decoder"
        assert inference.results[-1].text == first.failures[0].expression
        assert f"› {first.failures[0].expression}" in inference.console_text()


async def test_without_a_model_or_with_a_bad_option_the_search_says_why_in_one_line() -> None:
    app = InspectorHost()  # no live run, no checkpoint chosen
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.pane
        await inspector_idle(pilot, pane)
        await app.run_action("counterexamples", pane)
        await wait_until(pilot, lambda: pane.idle, what="the refusal")
        status = static_text(app, "#insp-cx-status")
        assert status.startswith("✗ cannot search: no training run yet — start one in the Training pane")
        assert not app.query_one("#insp-cx").display and pane.cx is None and app.is_running

    app = InspectorHost(FixedModelSource(Run(tiny_config()).model, TaskConfig(), "tiny"))
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.pane
        await inspector_idle(pilot, pane)
        pane.cx_per_region = 0  # an option the core refuses: its one-line reason, not a traceback
        await app.run_action("counterexamples", pane)
        await wait_until(pilot, lambda: pane.idle, what="the refusal")
        assert static_text(app, "#insp-cx-status") == (
            "✗ cannot search: ConfigError: per_region must be an integer from 1 to 10,000, got 0")
        assert pane.cx is None and app.is_running


def test_the_summary_says_when_no_region_is_below_the_threshold() -> None:
    task = TaskConfig()
    perfect = search_counterexamples(task, lambda exprs: np.array([e.evaluate() for e in exprs]), per_region=5)
    text = summary_text(perfect, "encoder-digits · step 12,000").plain
    assert text.startswith(f"No region below 99%: encoder-digits is at or above 99% on all {len(perfect.regions)} "
                           "regions searched.")
    assert "Inference console" in text and "--per-region 50" in text
    assert text.endswith("encoder-digits · step 12,000 · up to 5 examples per region, seed 0")
    assert summary_text(perfect, "live run · step 3 · idle").plain.startswith("No region below 99%: the live run")
    assert (percent(0.99), percent(0.995), percent(0.29), percent(1.0)) == ("99%", "99.5%", "29%", "100%")
