"""Live metric charts drawn with plotext, cheap enough to redraw while training runs flat out.

``MetricChart`` is a thin layer over textual-plotext's ``PlotextPlot`` that fixes what would otherwise
hurt a live training view:

* plotext raises on NaN/inf (and a render error kills the app): every point is filtered first;
* plotext's cost grows with the number of points (~20 ms for 1k at 60×14): each series is
  downsampled to about two points per column, which is all the plot can show anyway;
* ``PlotextPlot.render`` rebuilds the figure on every refresh: here the built figure is cached and
  rebuilt only when the data, the size or the theme changed;
* plotext clamps the figure to the OS terminal size (wrong in a browser or a test): turned off.

The chart never reads the session itself: the pane calls ``update_from(history)`` from a UI timer at a
few Hz, so all plotext calls happen on the UI thread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.app import RenderResult
from textual_plotext import PlotextPlot

from core.train.history import MetricHistory

#: plotext's default markers put two points in each character column.
POINTS_PER_COLUMN = 2
MAX_MARKS = 40  # vertical lines drawn at most (the most recent ones)
PALETTE = ("cyan", "orange", "green", "magenta", "yellow", "blue", "red")


@dataclass(frozen=True)
class SeriesSpec:
    """A history series shown on a chart: ``name`` in ``MetricHistory``, ``label`` in the legend."""

    name: str
    label: str
    color: str


def finite_points(steps: Sequence[float], values: Sequence[float]) -> tuple[list[float], list[float]]:
    """The (step, value) pairs where both are finite numbers (plotext crashes on NaN/inf)."""
    xs: list[float] = []
    ys: list[float] = []
    for x, y in zip(steps, values, strict=False):  # lengths may differ by one if read mid-update
        if isinstance(x, int | float) and isinstance(y, int | float) and math.isfinite(x) and math.isfinite(y):
            xs.append(x)
            ys.append(y)
    return xs, ys


def downsample(xs: list[float], ys: list[float], max_points: int) -> tuple[list[float], list[float]]:
    """At most ``max_points`` points: consecutive buckets averaged (x of the bucket's last point)."""
    n = len(xs)
    if n <= max_points or max_points < 2:
        return xs, ys
    out_x: list[float] = []
    out_y: list[float] = []
    for b in range(max_points):
        lo, hi = b * n // max_points, (b + 1) * n // max_points
        if hi <= lo:
            continue
        out_x.append(xs[hi - 1])
        out_y.append(sum(ys[lo:hi]) / (hi - lo))
    return out_x, out_y


def step_ticks(lo: float, hi: float, n: int) -> list[int]:
    """``n`` evenly spaced whole step numbers from ``lo`` to ``hi`` (steps are integers)."""
    return sorted({round(lo + (hi - lo) * i / (n - 1)) for i in range(n)})


def short_number(x: float) -> str:
    """``1234`` → ``1.2k``, ``56789`` → ``57k``: tick labels that fit under narrow charts."""
    x = round(x)
    if abs(x) < 1000:
        return str(x)
    if abs(x) < 10_000:
        return f"{x / 1000:.1f}k"
    if abs(x) < 1_000_000:
        return f"{x / 1000:.0f}k"
    return f"{x / 1_000_000:.1f}M"


class MetricChart(PlotextPlot):
    """One chart of named history series (or of every series under ``prefix``), with optional marks."""

    def __init__(self, title: str, series: Sequence[SeriesSpec] = (), *, prefix: str | None = None,
                 ylim: tuple[float, float] | None = None, show_marks: bool = False, empty_hint: str = "",
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.title = title
        self.series = tuple(series)
        self.prefix = prefix
        self.ylim = ylim
        self.show_marks = show_marks
        self.empty_hint = empty_hint or "no data yet"
        self._data: list[tuple[str, str, list[float], list[float]]] = []
        self._marks: list[float] = []
        self._signature: object = None
        self._version = 0
        self._cache_key: object = None
        self._cache: RenderResult = Text("")
        self.build_count = 0  # how many times the figure was actually rebuilt (for tests/benchmarks)

    def on_mount(self) -> None:
        super().on_mount()
        # plotext clamps plots to the OS terminal's size (80 columns in headless tests); textual-plotext
        # has no public way to turn that off.
        self.plt._limit_size(False, False)  # type: ignore[attr-defined]

    # -- data ----------------------------------------------------------------------------------------
    def _specs(self, history: MetricHistory) -> list[SeriesSpec]:
        if self.prefix is None:
            return list(self.series)
        names = sorted(n for n in list(history.names()) if n.startswith(self.prefix))
        return [SeriesSpec(n, n[len(self.prefix):], PALETTE[i % len(PALETTE)]) for i, n in enumerate(names)]

    def update_from(self, history: MetricHistory | None) -> bool:
        """Copy (downsampled, finite) points from ``history``; refresh only if anything changed."""
        data: list[tuple[str, str, list[float], list[float]]] = []
        marks: list[float] = []
        if history is not None:
            budget = max(16, POINTS_PER_COLUMN * max(1, self.size.width - 8))
            for spec in self._specs(history):
                xs, ys = finite_points(*history.points(spec.name))
                if xs:
                    xs, ys = downsample(xs, ys, budget)
                    data.append((spec.label, spec.color, xs, ys))
            if self.show_marks:
                marks = [float(step) for step, _ in history.marks_copy()[-MAX_MARKS:]]
        signature = ([(label, len(xs), xs[-1], ys[-1], xs[0]) for label, _, xs, ys in data], marks)
        if signature == self._signature:
            return False
        self._signature = signature
        self._data, self._marks = data, marks
        self._version += 1
        self.refresh()
        return True

    def clear(self) -> None:
        self._data, self._marks, self._signature = [], [], None
        self._version += 1
        self.refresh()

    @property
    def has_data(self) -> bool:
        return bool(self._data)

    @property
    def mark_steps(self) -> list[float]:
        return list(self._marks)

    def series_labels(self) -> list[str]:
        return [label for label, _, _, _ in self._data]

    # -- drawing -------------------------------------------------------------------------------------
    def render(self) -> RenderResult:
        width, height = self.size.width, self.size.height
        key = (width, height, self.app.theme, self._version)
        if key == self._cache_key:
            return self._cache
        self._cache_key = key
        if width < 10 or height < 4:
            self._cache = Text(self.title, style="dim")
        elif not self._data:
            self._cache = Text.assemble((self.title, "bold"), "\n\n", (self.empty_hint, "dim"), justify="center")
        else:
            self._cache = self._build(width, height)
        return self._cache

    def _build(self, width: int, height: int) -> RenderResult:
        plt = self.plt
        plt.clear_data()
        plt.plotsize(width, height)
        plt._set_size(width, height)
        plt.theme(self._get_plotext_theme_name(self.app.theme))
        plt.title(self.title)
        xmin = min(xs[0] for _, _, xs, _ in self._data)
        xmax = max(xs[-1] for _, _, xs, _ in self._data)
        for label, color, xs, ys in self._data:
            plt.plot(xs, ys, label=label, color=color)
        for x in self._marks:
            if xmin <= x <= xmax:
                plt.vline(x, "red")
        if self.ylim is not None:
            plt.ylim(*self.ylim)
        if xmax > xmin:
            plt.xlim(xmin, xmax)
            ticks = step_ticks(xmin, xmax, max(2, min(6, width // 14)))
            plt.xticks([float(t) for t in ticks], [short_number(t) for t in ticks])
        self.build_count += 1
        try:
            return Text.from_ansi(plt.build(), no_wrap=True)
        except (ValueError, ZeroDivisionError, IndexError) as exc:  # never let a plot kill the app
            return Text(f"{self.title}: cannot draw ({exc})", style="dim")
