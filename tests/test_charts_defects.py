"""The Training pane's charts as a newcomer read them (issue 12): a constant learning rate is one flat line
with sane tick labels, downsampling never alters a value, the five charts share one step range, and the
per-operation legend is in the task's order, above the plot."""

from __future__ import annotations

import re

from textual.app import App, ComposeResult

from core.train.history import MetricHistory
from workbench.widgets.chart_panel import ChartPanel
from workbench.widgets.charts import (
    MetricChart,
    axis_end,
    downsample,
    legend_order,
    tick_labels,
    value_range,
    value_ticks,
)

OPS = ["First", "Second", "Last", "Max", "Min"]


def test_downsampling_keeps_exact_values_of_a_constant_series_and_every_spike() -> None:
    xs = [float(i) for i in range(1, 3001)]
    ys = [0.001] * 3000
    dx, dy = downsample(xs, ys, 200)
    assert len(dx) <= 200 and set(dy) == {0.001}  # averaging gave 0.0010000000000000002 here and there
    spiky = [0.0] * 3000
    spiky[1234] = 5.0
    sx, sy = downsample(xs, spiky, 100)
    assert max(sy) == 5.0 and sx[sy.index(5.0)] == 1235.0  # the spike, at its own step
    assert sx == sorted(sx) and set(sy) <= set(spiky)  # only points of the series, in step order


def test_a_near_constant_series_gets_a_flat_range_and_short_tick_labels() -> None:
    lo, hi = value_range([0.001, 0.0010000000000000002, 0.001], None)
    assert lo < 0.001 < hi and hi - lo > 1e-4  # float noise is not a range to zoom into
    labels = tick_labels(value_ticks(lo, hi))
    assert "0.001" in labels and all(len(label) <= 7 for label in labels), labels
    assert tick_labels([0.0, 0.25, 0.5, 0.75, 1.0]) == ["0", "0.25", "0.5", "0.75", "1"]
    assert value_range([0.2, 0.9], (0.0, 1.0)) == (0.0, 1.0)


def test_the_shared_axis_end_is_a_round_step_at_or_after_the_latest_one() -> None:
    assert axis_end(313) == 400 and axis_end(400) == 400 and axis_end(401) == 500
    assert axis_end(9_390) == 10_000 and axis_end(1) == 1
    assert all(n <= axis_end(n) <= 4 / 3 * n + 1 for n in range(2, 5000, 7))  # the data fills ≥ 3/4 of it


def test_operations_are_listed_in_the_task_order() -> None:
    assert legend_order(sorted(OPS)) == OPS
    assert legend_order(["Min", "Other", "First"]) == ["First", "Min", "Other"]


class ChartsHost(App[None]):
    def compose(self) -> ComposeResult:
        yield ChartPanel(id="chart-panel")


def constant_lr_history(steps: int) -> MetricHistory:
    history = MetricHistory(capacity=64)  # small: the history itself merges points
    for step in range(1, steps + 1):
        values = {"train/loss": 1.0 / step, "lr": 0.001, "grad_norm": 0.5}
        if step % 50 == 0:  # validation only now and then: its series end earlier than the others
            values.update({"val/loss": 1.0 / step} | {f"val/accuracy/{op}": 0.5 for op in sorted(OPS)})
        history.add(step, values)
    return history


async def test_charts_share_one_step_range_and_draw_a_constant_lr_flat() -> None:
    app = ChartsHost()
    async with app.run_test(size=(160, 50)) as pilot:
        panel = app.query_one(ChartPanel)
        panel.active = True
        panel.show_history(constant_lr_history(333))
        await pilot.pause()
        charts = {c.id: c for c in app.query(MetricChart)}
        assert panel.x_range == (0.0, 400.0)
        assert {c.x_range for c in charts.values()} == {(0.0, 400.0)}  # val series end at 300, the others 333
        lr = charts["chart-lr"]
        plain = lr.render().plain  # type: ignore[union-attr]
        lines = plain.splitlines()
        assert lines[0].split() == ["learning", "rate", "▬▬", "lr"]  # the legend is a line of its own
        labels = re.findall(r"^\s*([-0-9.e]+)┤", plain, flags=re.M)
        assert "0.001" in labels and all(len(label) <= 7 for label in labels), labels
        drawn = [line for line in lines if "┤" in line or "│" in line]
        assert sum("▀" in line or "▄" in line for line in drawn) == 1  # one flat line, not a comb
        per_op = charts["chart-per-op"]
        assert per_op.series_labels() == OPS
        legend = per_op.render().plain.splitlines()[0]  # type: ignore[union-attr]
        assert [w for w in legend.split() if w in OPS] == OPS
        ticks = [t for t in re.findall(r"\d+", plain.splitlines()[-1])]
        assert ticks == ["0", "100", "200", "300", "400"]  # round steps, ending at the shared step
        for chart in charts.values():
            if chart.has_data:
                assert chart.render().plain.splitlines()[-1].split()[-1] == "400", chart.id  # type: ignore[union-attr]
        assert sum(c.has_data for c in charts.values()) == 4  # all but accuracy (not in this history)


async def test_extreme_values_still_draw_or_say_why() -> None:
    app = ChartsHost()
    async with app.run_test(size=(120, 40)) as pilot:
        panel = app.query_one(ChartPanel)
        panel.active = True
        history = MetricHistory()
        for step, value in enumerate([1e308, -1e308, 5.0, 1e-300], start=1):
            history.add(step, {"grad_norm": value, "lr": 1e-300})
        panel.show_history(history)
        await pilot.pause()
        for chart in app.query(MetricChart):
            chart.render()  # never raises: a drawing, or "cannot draw (…)"
        assert app.is_running
