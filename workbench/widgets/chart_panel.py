"""The Training pane's charts: loss, accuracy, accuracy per operation, learning rate, gradient norm.

At 120×40 and more all five are shown in a grid; below that one at a time, chosen with tabs. The panel
redraws from a ``MetricHistory`` it is given (the history copies its points under its own lock), on
the UI thread, at most a few times a second and only what changed and is visible: the UI and training
threads share the GIL, so UI time is taken from training almost one for one. Every chart's x-axis
runs from step 0 to the same round step at or after the latest one (``axis_end``), so all five end at
the same step at any moment; when that end moves, every visible chart is redrawn in the same tick.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.message import Message
from textual.widgets import Static, Tab, Tabs

from core.train.dynamics import SPIKE_KINDS, DynamicsEvent, detect_events, marked_steps
from core.train.history import MetricHistory
from core.train.smoothing import SMOOTHING_LEVELS
from workbench.widgets.charts import MetricChart, SeriesSpec, axis_end
from workbench.widgets.health_view import HealthView
from workbench.widgets.watch_list import WatchList

DEFAULT_SMOOTHING = 0.6  # the noisy series (per-batch loss) smoothed a little; raw points stay underneath
CHART_INTERVAL = 0.25  # s between chart redraws at least (≤ 5 Hz)
CHART_DUTY_FACTOR = 20  # … and at least 20× what the last redraw cost the UI thread (≤ 5% of its time)
CHARTS: tuple[tuple[str, str], ...] = (("loss", "Loss"), ("accuracy", "Accuracy"), ("per-op", "Per op"),
                                       ("health", "Watch & health"), ("lr", "LR"), ("grad", "Grad norm"))
EVENTS_INTERVAL = 1.0  # s between looks for dynamics events in the history
MAX_EVENT_MARKS = 8  # phase events drawn as cyan vertical lines on the loss and accuracy charts


def spike_counts(counts: dict[str, int]) -> str:
    """``{"loss spike": 15, "gradient spike": 16}`` → "15 loss and 16 gradient spikes" ("" for none)."""
    parts = [(n, kind.removesuffix(" spike")) for kind, n in counts.items() if n]
    if not parts:
        return ""
    named = " and ".join(f"{n} {what}" for n, what in parts)
    return f"{named} spike{'s' if parts[-1][0] != 1 or len(parts) > 1 else ''}"


class ChartPanel(Vertical):
    """Chart tabs and the chart grid. Set ``history`` and call ``refresh_charts``; ``active`` tells it
    whether its pane is on screen (hidden charts are never redrawn)."""

    class HealthShown(Message):
        """The Health tab was chosen: worth measuring now rather than at the next interval."""

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.history: MetricHistory | None = None
        self.active = False
        self._charts: list[MetricChart] = []
        self._chart_key: object = None
        self._chart_turn = 0
        self._next_chart_time = 0.0
        self.x_range: tuple[float, float] | None = None  # the step range every chart's x-axis shows
        self.smoothing = DEFAULT_SMOOTHING
        self.events: list[DynamicsEvent] = []
        self._events_key: object = None
        self._next_events = 0.0
        self.log_y = False
        self.log_x = False

    def compose(self) -> ComposeResult:
        yield Tabs(*(Tab(label, id=f"tab-{key}") for key, label in CHARTS), id="chart-tabs")
        yield Static("", id="chart-events")
        with Grid(id="charts"):
            yield MetricChart("loss", (SeriesSpec("train/loss", "train", "cyan"),
                                       SeriesSpec("val/loss", "val", "orange")),
                              show_marks=True, id="chart-loss", classes="-selected",
                              empty_hint="start training (F6) to see the loss")
            yield MetricChart("accuracy", (SeriesSpec("train/accuracy", "train", "cyan"),
                                           SeriesSpec("val/accuracy", "val", "orange")),
                              ylim=(0.0, 1.0), id="chart-accuracy")
            yield MetricChart("validation accuracy per operation", prefix="val/accuracy/",
                              ylim=(0.0, 1.0), id="chart-per-op", empty_hint="appears after the first validation")
            with Vertical(id="chart-health"):
                yield WatchList(id="watch-list")
                yield HealthView(id="health-view")
            yield MetricChart("learning rate", (SeriesSpec("lr", "lr", "green", smooth=False),), show_marks=True,
                              id="chart-lr")
            yield MetricChart("gradient norm", (SeriesSpec("grad_norm", "grad norm", "magenta"),), id="chart-grad")

    def on_mount(self) -> None:
        for chart in self.charts:
            chart.smoothing = self.smoothing
        self.set_interval(CHART_INTERVAL, self.refresh_charts)

    def set_view(self, smoothing: float | None = None, log_y: bool | None = None, log_x: bool | None = None) -> None:
        """How every chart draws: EMA ``smoothing`` of the noisy series, a log y-axis (for the charts
        without a fixed range: loss, learning rate, gradient norm), a log x-axis. Redrawn at once."""
        if smoothing is not None:
            self.smoothing = smoothing
        if log_y is not None:
            self.log_y = log_y
        if log_x is not None:
            self.log_x = log_x
        for chart in self.charts:
            chart.smoothing = self.smoothing
            chart.log_y = self.log_y and chart.ylim is None
            chart.log_x = self.log_x
        self.refresh_charts(force=True)

    def cycle_smoothing(self) -> float:
        """The next of ``SMOOTHING_LEVELS`` (0 → 0.6 → 0.9 → 0.99 → 0)."""
        levels = SMOOTHING_LEVELS
        nxt = levels[(levels.index(self.smoothing) + 1) % len(levels)] if self.smoothing in levels else levels[0]
        self.set_view(smoothing=nxt)
        return nxt

    @property
    def charts(self) -> list[MetricChart]:
        if not self._charts:
            self._charts = list(self.query(MetricChart))  # cached: a DOM query costs ~10 ms here
        return self._charts

    def visible_charts(self) -> list[MetricChart]:
        return [c for c in self.charts if c.display and c.size.area > 0]

    def show_history(self, history: MetricHistory | None) -> None:
        """A new run: its history, fresh charts."""
        self.history = history
        self._chart_key = None
        for chart in self.charts:
            chart.clear()
        self.refresh_charts(force=True)

    def refresh_charts(self, force: bool = False, soon: bool = False) -> None:
        """Redraw visible charts whose data changed: all of them when ``force``d, else one per tick.

        One chart per tick keeps each burst of UI work short (~10–25 ms), and the next tick waits
        CHART_DUTY_FACTOR × what the last redraw cost the UI thread, so charts take at most
        ~1/CHART_DUTY_FACTOR of its time.
        """
        if not self.active and not force:
            return
        now = time.monotonic()
        if soon:
            self._next_chart_time = 0.0
        if not force and now < self._next_chart_time:
            return
        history = self.history
        self._find_events(now)
        visible = self.visible_charts()
        key = (id(history), history.version if history else -1, tuple(c.id for c in visible), self.size)
        if key == self._chart_key and not force:
            return
        # One x-axis for all five charts: from step 0 to a round step at or after the latest one. It moves
        # only now and then; when it does, every visible chart is redrawn at once, so at any moment all
        # of them end at the same step.
        x_range = self.shared_x_range()
        if x_range != self.x_range:
            self.x_range = x_range
            force = True
        cpu = time.thread_time()
        if force or len(visible) <= 1:
            for chart in visible:
                chart.update_from(history, x_range)
            self._chart_key = key
        else:
            # Round robin: the first visible chart after the last one redrawn whose data changed.
            for i in range(len(visible)):
                chart = visible[(self._chart_turn + i) % len(visible)]
                if chart.update_from(history, x_range):
                    self._chart_turn = (self._chart_turn + i + 1) % len(visible)
                    break
            else:
                self._chart_key = key  # every chart is up to date

        def measured() -> None:
            cost = time.thread_time() - cpu
            self._next_chart_time = time.monotonic() + max(CHART_INTERVAL, cost * CHART_DUTY_FACTOR)

        self.call_after_refresh(measured)

    @property
    def health(self) -> HealthView:
        return self.query_one("#health-view", HealthView)

    @property
    def watch_list(self) -> WatchList:
        return self.query_one("#watch-list", WatchList)

    def health_visible(self) -> bool:
        """Whether the watch list and health view are on screen (their tab chosen, or the wide grid)."""
        cell = self.query_one("#chart-health")
        return self.active and cell.display and cell.size.area > 0

    def _find_events(self, now: float) -> None:
        """The dynamics events of the history (at most once a second, and only when it changed): the latest
        one on the line above the charts, all of them in the Health view."""
        history = self.history
        key = (id(history), history.version if history else -1)
        if key == self._events_key or now < self._next_events:
            return
        self._events_key, self._next_events = key, now + EVENTS_INTERVAL
        names = ["train/loss", "train/accuracy", "val/accuracy", "lr", "grad_norm", "weight_norm"]
        if history is not None:
            names += [n for n in history.names() if n.startswith("attn_entropy/")]
        self.events = detect_events({n: history.points(n) for n in names}) if history is not None else []
        line = self.query_one("#chart-events", Static)
        phases = [e for e in self.events if e.kind not in SPIKE_KINDS]
        counts = {kind: sum(e.kind == kind for e in self.events) for kind in SPIKE_KINDS}
        spikes = spike_counts(counts)  # by kind: the health view counts the gradient-norm spikes on their own
        text = Text()
        if phases:
            latest = phases[-1]
            text.append("▲ ", style="cyan")
            text.append(f"step {latest.step:,} {latest.kind}: ", style="bold")
            text.append(latest.text)
        if spikes:
            text.append(("  · " if phases else "▲ ") + f"{spikes} (Watch & health)", style="dim")
        line.update(text)
        line.display = bool(self.events)
        marked = [float(step) for step in marked_steps(self.events, MAX_EVENT_MARKS)]
        for chart in self.charts:
            if chart.id in ("chart-loss", "chart-accuracy", "chart-per-op"):
                chart.event_steps = marked  # drawn at the chart's next redraw
        self.health.show(events=self.events)

    def shared_x_range(self) -> tuple[float, float] | None:
        """The steps every chart shows: 0 to ``axis_end`` of the history's latest step (None: no data)."""
        history = self.history
        if history is None:
            return None
        last = history.last_step()
        return (0.0, float(axis_end(last))) if last > 0 else None

    def select_chart(self, key: str) -> None:
        for chart in [*self.charts, self.query_one("#chart-health")]:
            chart.set_class(chart.id == f"chart-{key}", "-selected")
        if key == "health":
            self.post_message(self.HealthShown())
        tabs = self.query_one("#chart-tabs", Tabs)
        if tabs.active != f"tab-{key}":
            tabs.active = f"tab-{key}"
        self.call_after_refresh(self.refresh_charts, True)

    @on(Tabs.TabActivated, "#chart-tabs")
    def _chart_tab(self, event: Tabs.TabActivated) -> None:
        event.stop()
        if event.tab.id:
            self.select_chart(event.tab.id.removeprefix("tab-"))
