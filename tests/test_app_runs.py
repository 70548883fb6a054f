"""The Runs pane as a user drives it: recorded runs listed, two marked and overlaid, their differences named."""

from __future__ import annotations

from textual.widgets import DataTable, Select

from tests.app_support import (
    isolated_models_dir,  # noqa: F401 (autouse: checkpoints go to a tmp dir)
    static_text,
    wait_for,
)
from workbench.app import WorkbenchApp
from workbench.cli import main
from workbench.widgets.charts import MetricChart


async def test_runs_are_listed_marked_and_compared() -> None:
    for lr in ("1e-3", "3e-3"):
        assert main(["train", "--epochs", "1", "--n-train", "320", "--n-val", "64", "--d-model", "16",
                     "--lr", lr]) == 0
    app = WorkbenchApp(initial_pane="runs")
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one("#runs-table", DataTable)
        await wait_for(pilot, lambda: table.row_count == 2, what="the two recorded runs")
        assert "2 recorded runs" in static_text(app, "#runs-status")
        table.focus()
        await pilot.press("space", "down", "space")
        chart = app.query_one("#runs-chart-val", MetricChart)
        await wait_for(pilot, lambda: chart.series_labels() == ["#1", "#2"], what="both runs on the chart")
        assert app.runs_pane.marked == [table.coordinate_to_cell_key((0, 0)).row_key.value,
                                        table.coordinate_to_cell_key((1, 0)).row_key.value]
        right = app.query_one("#runs-right-metric", Select)  # per operation, too
        await wait_for(pilot, lambda: "val/accuracy/Max" in [v for _, v in right._options], what="per-op metrics")
        right.value = "val/accuracy/Max"
        await pilot.pause()
        other = app.query_one("#runs-chart-loss", MetricChart)
        assert other.title == "val/accuracy/Max" and other.series_labels() == ["#1", "#2"] and other.ylim == (0, 1)
        differences = static_text(app, "#runs-differences")
        assert "lr" in differences and "0.001" in differences and "0.003" in differences
        # time travel: the run under the cursor at its last snapshot, then one earlier
        await pilot.press("t")
        pane = app.runs_pane
        await wait_for(pilot, lambda: pane.travel is not None, what="the time-travel view")
        assert pane.travel is not None
        last = pane.travel.step
        assert last == pane.travel.steps[-1] and pane.travel.steps[:3] == [0, 1, 2]
        travel = static_text(app, "#runs-travel")
        assert f"at step {last:,}" in travel and "by operation" in travel and "moved most between" in travel
        assert "digit embeddings" in travel and "layer 0 (0–1) · head 0 (0–3)" in travel
        await pilot.press("h")  # the next head's attention
        assert "layer 0 (0–1) · head 1 (0–3)" in static_text(app, "#runs-travel")
        await pilot.press("left_square_bracket")
        await wait_for(pilot, lambda: pane.travel is not None and pane.travel.step < last, what="an earlier step")
        assert pane.travel is not None and pane.travel.step == pane.travel.steps[-2]
        second = pane.travel.step
        await pilot.press("d")  # diff from here
        assert pane.diff_base == second
        await wait_for(pilot, lambda: not pane.workers, what="the view measured from there")
        await pilot.press("left_square_bracket")
        await wait_for(pilot, lambda: pane.travel is not None and pane.travel.step < second, what="a step before")
        assert pane.travel.previous == second and f"and step {second:,}" in static_text(app, "#runs-travel")
        await pilot.press("slash")
        await pilot.press(*"nothing-matches")
        await wait_for(pilot, lambda: table.row_count == 0, what="the filter to hide every run")
        assert "0 match the filter" in static_text(app, "#runs-status")


async def test_with_no_runs_the_pane_says_where_they_will_be() -> None:
    app = WorkbenchApp(initial_pane="runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "No recorded runs yet" in static_text(app, "#runs-status"),
                       what="the empty-state hint")
