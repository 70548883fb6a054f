"""The Training pane's watch list, health view and chart keys, as a user drives them."""

from __future__ import annotations

from textual.widgets import Input

from tests.app_support import (
    isolated_models_dir,  # noqa: F401 (autouse: checkpoints go to a tmp dir)
    static_text,
    step_of,
    tiny_settings,
    wait_for,
)
from workbench.app import WorkbenchApp
from workbench.widgets.charts import MetricChart


async def test_a_pinned_expression_is_answered_live_and_the_health_view_fills_in() -> None:
    app = WorkbenchApp()
    async with app.run_test(size=(160, 50)) as pilot:  # wide: the watch list and health are on screen
        await tiny_settings(pilot, epochs="1000")
        await app.run_action("step")  # a run exists (one step): its task checks the pins
        await wait_for(pilot, lambda: step_of(app) == 1, what="step 1")
        field = app.query_one("#watch-input", Input)
        field.focus()
        await pilot.press(*"max(3,7,2)", "enter")
        watch = app.training.charts_panel.watch_list
        assert watch.pins == ["Max(3, 7, 2)"]
        await wait_for(pilot, lambda: "Max(3, 7, 2)" in watch.answers, what="the pinned answer")
        assert "→" in static_text(app, "#watch-rows") and watch.answers["Max(3, 7, 2)"].truth == 7
        await pilot.press(*"Mux(1)", "enter")
        assert "unknown operation" in static_text(app, "#watch-rows") and watch.pins == ["Max(3, 7, 2)"]
        field.value = ""
        await app.run_action("toggle_run")
        await wait_for(pilot, lambda: step_of(app) >= 60, what="some training")
        await app.run_action("toggle_run")
        await wait_for(pilot, lambda: watch.step is not None and watch.step >= 60, what="an answer after training")
        await wait_for(pilot, lambda: "training health at step" in static_text(app, "#health-view"),
                       what="the health figures", timeout=20)
        health = static_text(app, "#health-view")
        assert "update/weight" in health and "dead FFN units" in health and "what happened" in health
        await pilot.press(*"max(3,7,2)", "enter")  # typed again: unpinned
        assert watch.pins == []


async def test_the_chart_keys_smooth_and_log_the_charts_only_on_the_training_pane() -> None:
    app = WorkbenchApp(initial_pane="training")
    async with app.run_test(size=(120, 40)) as pilot:
        panel = app.training.charts_panel
        loss = app.query_one("#chart-loss", MetricChart)
        assert panel.smoothing == loss.smoothing == 0.6
        app.screen.set_focus(None)
        await pilot.press("e")
        assert panel.smoothing == loss.smoothing == 0.9
        await pilot.press("y", "x")
        assert loss.log_y and loss.log_x and not app.query_one("#chart-accuracy", MetricChart).log_y  # fixed 0–1
        await pilot.press("f4")
        await pilot.press("y")  # another pane: the chart keys do nothing there
        assert loss.log_y


async def test_the_pin_hint_is_an_expression_of_the_runs_task() -> None:
    """A Sum mod 47 run was told to pin Max(3, 7, 2), which it refuses."""
    from core.data.task import TaskConfig
    from workbench.widgets.watch_list import WatchList

    app = WorkbenchApp()
    async with app.run_test(size=(160, 50)) as pilot:
        field = app.query_one("#watch-input", Input)
        assert "e.g. Max(3, 7, 2)" in field.placeholder
        watch = app.query_one(WatchList)
        watch.set_task(TaskConfig(operations=("Sum",), max_value=46, min_args=2, max_args=2))
        await pilot.pause()
        assert "e.g. Sum(34, 17)" in field.placeholder
        field.focus()
        await pilot.press(*"Max(3,7,2)", "enter")
        assert "e.g. Sum(34, 17)" in static_text(app, "#watch-rows") and watch.pins == []
