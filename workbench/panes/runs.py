"""The Runs pane: every recorded run (``core.train.records``) in a table; pick several to overlay their curves.

The table lists the runs newest first (sortable, filterable as ``workbench runs`` is); space marks a run
for comparison. The marked runs' validation accuracy and training loss are overlaid on two charts that
share one step axis (runs of different lengths line up on their steps), and the settings in which the
marked runs differ are listed under them — so "what did I change between these two?" has an answer on
screen. Time travel (t, then [ and ]) shows the run under the cursor as it was at one of its weight
snapshots: accuracy by operation, confusions, attention, and the parameters that moved most since the
snapshot before. Records are read in a thread worker (a long run's metrics file is megabytes) and come back as a
message; the live run's record grows while it trains, so the pane re-reads while it is shown.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Input, Label, Select, Static

from core.train.history import MetricHistory
from core.train.records import RunSummary, list_runs, read_series, runs_dir
from core.train.run_comparison import config_differences, setting_text, short_name
from workbench.render.run_table import HEADERS, SORT_KEYS, filter_runs, sort_runs, table_rows
from workbench.render.runs import time_travel_text
from workbench.runs_probes import TimeTravel, time_travel
from workbench.widgets.charts import MetricChart

REFRESH_SECONDS = 3.0  # re-read the records this often while the pane is shown
MAX_COMPARED = 6  # runs overlaid at once (the charts' palette and markers)
DEFAULT_OVERLAID = ("val/accuracy", "train/loss")  # the left and right charts' metrics until others are chosen
DIFFERENCES_SHOWN = 10  # settings listed with their values under the charts; the rest are named


class RunsLoaded(Message):
    """The records, read by the worker: the runs, warnings for unreadable ones, the marked runs' series."""

    def __init__(self, runs: list[RunSummary], warnings: list[str],
                 series: dict[str, dict[str, tuple[list[int], list[float]]]]) -> None:
        super().__init__()
        self.runs, self.warnings, self.series = runs, warnings, series


class Travelled(Message):
    """The time-travel view, computed by the worker (or why it could not be)."""

    def __init__(self, view: TimeTravel | None, error: str) -> None:
        super().__init__()
        self.view, self.error = view, error


class RunsPane(Widget):
    """The recorded runs and the comparison of the marked ones."""

    DEFAULT_CSS = """
    RunsPane { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "mark", "Compare", tooltip="Mark or unmark the run under the cursor for comparison"),
        Binding("r", "reload", "Reload", tooltip="Read the run records again"),
        Binding("slash", "filter", "Filter", tooltip="Type to show only matching runs"),
        Binding("y", "toggle_log_y", "Log y", tooltip="Log scale on the loss chart"),
        Binding("t", "travel", "Travel", tooltip="Time travel: the run under the cursor at its last snapshot"),
        Binding("left_square_bracket", "travel_by(-1)", "Earlier", tooltip="The previous snapshot"),
        Binding("right_square_bracket", "travel_by(1)", "Later", tooltip="The next snapshot"),
        Binding("h", "next_head", "Head", tooltip="Time travel: the attention of the next head"),
        Binding("d", "diff_base", "Diff from", tooltip="Measure the parameter changes from this snapshot (d again: "
                                                        "from the one before, as at first)"),
    ]

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.runs: list[RunSummary] = []
        self.marked: list[str] = []  # run ids, in the order they were marked (their number on the charts)
        self.series: dict[str, dict[str, tuple[list[int], list[float]]]] = {}
        self.active = False
        self._loading = False
        self.travel: TimeTravel | None = None  # the run under time travel, at its current snapshot
        self._offered: list[str] = list(DEFAULT_OVERLAID)  # the metrics the two chart lists offer
        self.diff_base: int | None = None  # the snapshot parameter changes are measured from (None: the one before)
        self.head = 0  # the head whose attention time travel shows, counted through the layers

    def compose(self) -> ComposeResult:
        with Horizontal(classes="runs-row"):
            yield Label("filter ", classes="runs-label")
            yield Input(placeholder="task, model, optimiser, status… (/)", id="runs-filter", compact=True)
            yield Label(" sort ", classes="runs-label")
            yield Select([(k, k) for k in SORT_KEYS], value="started", allow_blank=False, compact=True,
                         id="runs-sort")
        yield Static("", id="runs-status")
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="runs-body"):
            with Horizontal(classes="runs-row"):
                for side, metric in zip(("left", "right"), DEFAULT_OVERLAID, strict=True):
                    yield Label(f" {side} chart ", classes="runs-label")
                    yield Select([(metric, metric)], value=metric, allow_blank=False, compact=True,
                                 id=f"runs-{side}-metric")
            with Grid(id="runs-charts"):
                yield MetricChart("val/accuracy", prefix="left/", ylim=(0.0, 1.0), id="runs-chart-val",
                                  empty_hint="mark runs with space to compare them")
                yield MetricChart("train/loss", prefix="right/", id="runs-chart-loss", empty_hint="")
            yield Static("", id="runs-differences")
            yield Static(Text("t: time travel through the run under the cursor", style="dim"), id="runs-travel")

    def on_mount(self) -> None:
        table = self.query_one("#runs-table", DataTable)
        table.add_columns("✓", *HEADERS)
        for chart in self.query(MetricChart):
            chart.smoothing = 0.6
        self.set_interval(REFRESH_SECONDS, self._tick)

    def focus_default(self) -> None:
        """The table has the keys when the pane is shown (space marks a run; / goes to the filter)."""
        self.query_one("#runs-table", DataTable).focus()

    def _tick(self) -> None:
        if self.active:
            self.reload()

    # -- reading ---------------------------------------------------------------------------------------
    def reload(self) -> None:
        if not self._loading:
            self._loading = True
            self._read(list(self.marked))

    @work(thread=True, exclusive=True, group="runs-read")
    def _read(self, marked: list[str]) -> None:
        runs, warnings = list_runs()
        by_id = {r.id: r for r in runs}
        series = {run_id: read_series(by_id[run_id].dir) for run_id in marked if run_id in by_id}
        self.post_message(RunsLoaded(runs, warnings, series))

    @on(RunsLoaded)
    def _loaded(self, message: RunsLoaded) -> None:
        self._loading = False
        self.runs = message.runs
        known = {r.id for r in self.runs}
        self.marked = [m for m in self.marked if m in known]
        self.series = message.series
        self.show()
        if message.warnings:
            self.notify("\n".join(message.warnings[:3]), title="unreadable run records", severity="warning")

    # -- drawing ---------------------------------------------------------------------------------------
    def shown_runs(self) -> list[RunSummary]:
        sort = self.query_one("#runs-sort", Select).value
        return sort_runs(filter_runs(self.runs, self.query_one("#runs-filter", Input).value),
                         sort if isinstance(sort, str) else "started")

    def show(self) -> None:
        table = self.query_one("#runs-table", DataTable)
        row = table.cursor_row
        shown = self.shown_runs()
        table.clear()
        for run, cells in zip(shown, table_rows(shown), strict=True):
            mark = str(self.marked.index(run.id) + 1) if run.id in self.marked else ""
            table.add_row(mark, *cells, key=run.id)
        if shown:
            table.move_cursor(row=min(max(row, 0), len(shown) - 1))
        n = len(self.runs)
        status = (f"{n} recorded run{'s' if n != 1 else ''} in {runs_dir()}" if n else
                  f"No recorded runs yet: every run trained here or with `workbench train` is recorded in "
                  f"{runs_dir()}.")
        if n and len(shown) != n:
            status += f" · {len(shown)} match the filter"
        if n:
            status += " · space marks a run to compare (up to 6)"
        self.query_one("#runs-status", Static).update(status)
        self._draw_comparison()

    def overlaid(self) -> tuple[str, str]:
        """The metrics of the left and right charts (as chosen in their lists)."""
        chosen = [self.query_one(f"#runs-{side}-metric", Select).value for side in ("left", "right")]
        return tuple(c if isinstance(c, str) else d for c, d in zip(chosen, DEFAULT_OVERLAID, strict=True))  # type: ignore[return-value]

    def _offer_metrics(self) -> None:
        """Every metric some marked run has, in the two lists (the choice kept if still there)."""
        names = sorted({n for series in self.series.values() for n in series} | set(DEFAULT_OVERLAID),
                       key=lambda n: (not n.startswith("val/"), n.count("/"), n))
        if names == self._offered:
            return
        self._offered = names
        for side in ("left", "right"):
            select = self.query_one(f"#runs-{side}-metric", Select)
            current = select.value
            with self.prevent(Select.Changed):
                select.set_options([(n, n) for n in names])
                select.value = current if current in names else DEFAULT_OVERLAID[side == "right"]

    def _draw_comparison(self) -> None:
        self._offer_metrics()
        history = MetricHistory(capacity=2000)
        left, right = self.overlaid()
        for i, run_id in enumerate(self.marked, start=1):
            series = self.series.get(run_id, {})
            for name, prefix in ((left, "left"), (right, "right")):
                steps, values = series.get(name, ([], []))
                for step, value in zip(steps, values, strict=True):
                    history.add(step, {f"{prefix}/#{i}": value})
        last = history.last_step()
        self.query_one("#runs-charts").display = bool(self.marked)  # no empty charts taking the screen
        for chart, name in zip(self.query(MetricChart), (left, right), strict=True):
            chart.title = name
            chart.ylim = (0.0, 1.0) if "accuracy" in name else None
            chart.clear()
            chart.update_from(history if self.marked else None, (0.0, float(last)) if last else None)
        diff = self.query_one("#runs-differences", Static)
        chosen = [r for r in self.runs if r.id in self.marked]
        chosen.sort(key=lambda r: self.marked.index(r.id))
        if len(chosen) < 2:
            diff.update("Mark two or more runs to see the settings in which they differ." if self.runs else "")
            return
        diffs = config_differences([r.config for r in chosen])
        lines = [" · ".join(f"#{i} {r.id}" for i, r in enumerate(chosen, start=1))]
        if not diffs:
            lines.append("same settings, seed included: any difference between the runs is not the settings' doing")
        shown = list(diffs.items())[:DIFFERENCES_SHOWN]
        for name, values in shown:
            lines.append(f"{short_name(name):<14} "
                         + "  ".join(f"#{i} {setting_text(v)}" for i, v in enumerate(values, start=1)))
        rest = [short_name(name) for name in list(diffs)[DIFFERENCES_SHOWN:]]
        if rest:
            lines.append(f"… and {len(rest)} more: {', '.join(rest)}")
        diff.update("\n".join(lines))

    # -- actions ---------------------------------------------------------------------------------------
    def action_mark(self) -> None:
        table = self.query_one("#runs-table", DataTable)
        shown = self.shown_runs()
        if not shown or not 0 <= table.cursor_row < len(shown):
            return
        run_id = shown[table.cursor_row].id
        if run_id in self.marked:
            self.marked.remove(run_id)
        elif len(self.marked) >= MAX_COMPARED:
            self.notify(f"At most {MAX_COMPARED} runs at once: unmark one first.", severity="warning")
            return
        else:
            self.marked.append(run_id)
        self.show()
        self.reload()  # the newly marked run's metrics

    def action_travel(self) -> None:
        table = self.query_one("#runs-table", DataTable)
        shown = self.shown_runs()
        if not shown or not 0 <= table.cursor_row < len(shown):
            return
        self._travel_to(shown[table.cursor_row], 1 << 62)

    def action_travel_by(self, delta: int) -> None:
        tt = self.travel
        if tt is None:
            self.action_travel()
            return
        i = tt.steps.index(tt.step) + delta
        run = next((r for r in self.runs if r.id == tt.run_id), None)
        if run is not None and 0 <= i < len(tt.steps):
            self._travel_to(run, tt.steps[i])

    def action_next_head(self) -> None:
        if self.travel is None:
            return
        self.head += 1
        self._show_travel(self.travel)

    def _show_travel(self, tt: TimeTravel) -> None:
        """Draw the time-travel view of ``tt`` at the pane's width, with the chosen head."""
        self.query_one("#runs-travel", Static).update(time_travel_text(tt, max(40, self.size.width - 2), self.head))

    def action_diff_base(self) -> None:
        tt = self.travel
        if tt is None:
            return
        self.diff_base = None if self.diff_base == tt.step else tt.step
        self.notify(f"parameter changes now measured from step {tt.step:,}: move with [ and ]" if self.diff_base
                    is not None else "parameter changes measured from the snapshot before, again", timeout=3)
        run = next((r for r in self.runs if r.id == tt.run_id), None)
        if run is not None:
            self._travel_to(run, tt.step)

    def _travel_to(self, run: RunSummary, step: int) -> None:
        if self.travel is not None and self.travel.run_id != run.id:
            self.diff_base = None  # another run: its own snapshots
        self.query_one("#runs-travel", Static).update(f"loading the model of run {run.id} at its snapshot…")
        self._travel_worker(run, step, self.diff_base)

    @work(thread=True, exclusive=True, group="runs-travel")
    def _travel_worker(self, run: RunSummary, step: int, base: int | None) -> None:
        try:
            self.post_message(Travelled(time_travel(run, step, base=base), ""))
        except Exception as exc:  # a damaged snapshot, an old record without any: said in the pane
            self.post_message(Travelled(None, f"cannot travel in run {run.id}: {exc}"))

    @on(Travelled)
    def _travelled(self, message: Travelled) -> None:
        view = self.query_one("#runs-travel", Static)
        if message.view is None:
            view.update(message.error)
            return
        self.travel = message.view
        self._show_travel(message.view)
        self.call_after_refresh(self.query_one("#runs-body", VerticalScroll).scroll_to_widget, view, top=True)

    def action_reload(self) -> None:
        self.reload()

    def action_filter(self) -> None:
        self.query_one("#runs-filter", Input).focus()

    def action_toggle_log_y(self) -> None:
        chart = self.query_one("#runs-chart-loss", MetricChart)
        chart.log_y = not chart.log_y
        self._draw_comparison()

    @on(Input.Changed, "#runs-filter")
    @on(Select.Changed, "#runs-sort")
    def _view_changed(self) -> None:
        self.show()

    @on(Select.Changed, "#runs-left-metric")
    @on(Select.Changed, "#runs-right-metric")
    def _metric_chosen(self) -> None:
        self._draw_comparison()
