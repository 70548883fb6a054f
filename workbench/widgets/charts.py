"""Live metric charts drawn with plotext, cheap enough to redraw while training runs flat out.

``MetricChart`` is a thin layer over textual-plotext's ``PlotextPlot`` that fixes what would otherwise
hurt a live training view:

* plotext raises on NaN/inf (and a render error kills the app): every point is filtered first;
* plotext's cost grows with the number of points (~20 ms for 1k at 60×14): each series is
  downsampled to about two points per column, which is all the plot can show anyway — keeping each
  bucket's lowest and highest point, never an average, so no value is altered (a constant lr of 0.001
  stays one flat line) and no spike is flattened;
* plotext's own tick labels print float noise (``0.00100000000000000024``) and its legend covers the
  plot: here the y ticks are round values with the fewest digits that state them, the x-axis (one
  step range the panel shares between all five charts) has round steps, and the legend is a line of
  its own above the plot, the operations in the task's order (First, Second, Last, Max, Min);
* ``PlotextPlot.render`` rebuilds the figure on every refresh: here the built figure is cached and
  rebuilt only when the data, the size or the theme changed;
* plotext clamps the figure to the OS terminal size (wrong in a browser or a test): turned off;
* smoothing is honest: a debiased EMA (``core.train.smoothing``) drawn over the raw series, which stays
  visible underneath in a faint colour; log axes (``log_y``, ``log_x``) for a loss that spans decades or
  a run of many steps; each series has its own marker as well as its own colour, so train and val are
  told apart on a 256-colour terminal and by a colour-blind learner.

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

from core.data.operations import OPERATIONS
from core.train.history import MetricHistory
from core.train.smoothing import ema

#: plotext's default markers put two points in each character column.
POINTS_PER_COLUMN = 2
MAX_MARKS = 40  # vertical lines drawn at most (the most recent ones)
PALETTE = ("cyan", "orange", "green", "magenta", "yellow", "blue", "red")
#: The legend's colour for each plotext colour name (Rich has no plain "orange").
LEGEND_COLORS = {"orange": "dark_orange"}
#: Each series' marker, in order: the shape tells series apart where colours do not.
MARKERS = ("hd", "•", "x", "+", "o", "*", "~")
#: What the legend shows for plotext's block markers.
MARKER_GLYPHS = {"hd": "▬▬"}
RAW_COLOR = "gray"  # the raw series under a smoothed one
#: Mantissas of the shared x-axis end (× 10ᵏ).
NICE_ENDS = (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)


@dataclass(frozen=True)
class SeriesSpec:
    """A history series shown on a chart: ``name`` in ``MetricHistory``, ``label`` in the legend."""

    name: str
    label: str
    color: str
    smooth: bool = True  # False for exact settings such as the learning rate: never smoothed


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
    """At most ``max_points`` of the points themselves, never a changed value: the points are split
    into ``max_points // 2`` consecutive buckets and each keeps its lowest and its highest point, in
    step order (one point when they are the same). A constant series stays exactly constant, and a
    spike stays as high as it was; averaging instead would alter values (0.001 averaged over three
    points is 0.0010000000000000002) and flatten spikes."""
    n = len(xs)
    if n <= max_points or max_points < 2:
        return xs, ys
    buckets = max_points // 2
    out_x: list[float] = []
    out_y: list[float] = []
    for b in range(buckets):
        lo, hi = b * n // buckets, (b + 1) * n // buckets
        if hi <= lo:
            continue
        i_min = min(range(lo, hi), key=ys.__getitem__)
        i_max = max(range(lo, hi), key=ys.__getitem__)
        for i in sorted({i_min, i_max}):
            out_x.append(xs[i])
            out_y.append(ys[i])
    return out_x, out_y


def axis_end(last_step: float) -> int:
    """The step the charts' shared x-axis ends at: the first "nice" number (1, 1.2, 1.5, 2, 2.5, 3, 4,
    5, 6, 8 × 10ᵏ) at or above ``last_step``. It changes only now and then (the data always fills at
    least 3/4 of the axis), so every chart can share it and all five end at the same step."""
    if not math.isfinite(last_step) or last_step <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(last_step))
    for m in NICE_ENDS:
        end = m * magnitude
        if end >= last_step:
            return max(1, math.ceil(end))
    return 10 * magnitude


def value_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """The round tick values (multiples of 1, 2, 2.5 or 5 × 10ᵏ) in [lo, hi] (hi > lo) whose count is
    closest to ``n`` (more rather than fewer on a tie)."""
    span = hi - lo
    if not (math.isfinite(span) and span > 0):
        return [lo]
    exponent = math.floor(math.log10(span / max(1, n - 1)))
    best: list[float] = []
    for e in (exponent - 1, exponent, exponent + 1):
        for m in (1, 2, 2.5, 5):
            step = m * 10.0 ** e
            first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
            ticks = [k * step for k in range(first, last + 1)]
            if not best or (abs(len(ticks) - n), -len(ticks)) < (abs(len(best) - n), -len(best)):
                best = ticks
    return best or [lo, hi]


def tick_labels(values: Sequence[float]) -> list[str]:
    """Labels for ``values``: the fewest significant digits (≤ 6) that state each value (to a part in
    10⁹) and tell them apart, with no float noise (``0.001``, never ``0.00100000000000000024``)."""
    labels: list[str] = []
    for digits in range(1, 7):
        labels = [_tick(v, digits) for v in values]
        exact = all(abs(float(label) - v) <= 1e-9 * max(abs(v), 1e-300) or abs(v) < 1e-12
                    for label, v in zip(labels, values, strict=True))
        if exact and len(set(labels)) == len(labels):
            return labels
    return labels


def _tick(v: float, digits: int) -> str:
    if abs(v) < 1e-12:
        return "0"
    if 1 <= abs(v) < 1e6 and v == round(v):
        return str(round(v))  # 40, not 4e1
    text = f"{v:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text


def value_range(ys: Sequence[float], ylim: tuple[float, float] | None) -> tuple[float, float]:
    """The y-axis range: ``ylim`` if given, else the data's range; a (near-)constant series — equal up
    to float rounding — gets a range around its value, so it is drawn as one flat line."""
    if ylim is not None:
        return ylim
    lo, hi = min(ys), max(ys)
    scale = max(abs(lo), abs(hi))
    if hi - lo <= 1e-9 * scale or hi == lo:
        mid = (lo + hi) / 2
        pad = abs(mid) * 0.5 if mid else 1.0
        return mid - pad, mid + pad
    pad = (hi - lo) * 0.05
    if not (math.isfinite(lo - pad) and math.isfinite(hi + pad)):  # values near ±1e308
        return lo, hi
    return lo - pad, hi + pad


def decade_ticks(lo: float, hi: float) -> list[float]:
    """Ticks of a log axis from ``lo`` to ``hi`` (both > 0): the powers of ten between them, or — when
    fewer than two fit — 1, 2 and 5 × 10ᵏ."""
    if not (lo > 0 and hi > lo):
        return [lo]
    first, last = math.ceil(math.log10(lo) - 1e-9), math.floor(math.log10(hi) + 1e-9)
    ticks = [10.0**k for k in range(first, last + 1)]
    if len(ticks) >= 2:
        step = max(1, math.ceil(len(ticks) / 6))
        return ticks[::step]
    return [m * 10.0**k for k in range(first - 1, last + 1) for m in (1, 2, 5) if lo <= m * 10.0**k <= hi]


def legend_order(labels: Sequence[str]) -> list[str]:
    """Series labels in the task's order (First, Second, Last, Max, Min), anything else after them."""
    known = list(OPERATIONS)
    return sorted(labels, key=lambda label: (known.index(label) if label in known else len(known), label))


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
        self._raw: list[tuple[list[float], list[float]]] = []  # the raw points under each smoothed series
        self.smoothing = 0.0  # EMA smoothing of the noisy series (0 = the raw points only)
        self.log_y = False
        self.log_x = False
        self.event_steps: list[float] = []  # steps of dynamics events (memorising, generalising …), drawn cyan
        self._marks: list[float] = []
        self.x_range: tuple[float, float] | None = None  # the steps the x-axis shows (None: the data's)
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
        labels = legend_order([n[len(self.prefix):] for n in list(history.names()) if n.startswith(self.prefix)])
        return [SeriesSpec(self.prefix + label, label, PALETTE[i % len(PALETTE)]) for i, label in enumerate(labels)]

    def update_from(self, history: MetricHistory | None, x_range: tuple[float, float] | None = None) -> bool:
        """Copy (downsampled, finite) points from ``history``; refresh only if anything changed.
        ``x_range`` is the step range the x-axis shows (the panel gives every chart the same one); by
        default the data's own."""
        data: list[tuple[str, str, list[float], list[float]]] = []
        raw: list[tuple[list[float], list[float]]] = []
        marks: list[float] = []
        if history is not None:
            budget = max(16, POINTS_PER_COLUMN * max(1, self.size.width - 8))
            for spec in self._specs(history):
                xs, ys = finite_points(*history.points(spec.name))
                if self.log_y:  # a log axis shows positive values only
                    kept = [(x, y) for x, y in zip(xs, ys, strict=True) if y > 0]
                    xs, ys = [x for x, _ in kept], [y for _, y in kept]
                if xs:
                    smoothed = self.smoothing > 0 and spec.smooth and len(ys) > 2
                    if smoothed:
                        raw.append(downsample(xs, ys, budget))
                        ys = ema(ys, self.smoothing)  # smoothed at full resolution, then downsampled
                    else:
                        raw.append(([], []))
                    xs, ys = downsample(xs, ys, budget)
                    data.append((spec.label, spec.color, xs, ys))
            if self.show_marks:
                marks = [float(step) for step, _ in history.marks_copy()[-MAX_MARKS:]]
        signature = ([(label, len(xs), xs[-1], ys[-1], xs[0]) for label, _, xs, ys in data], marks, x_range,
                     self.smoothing, self.log_y, self.log_x, tuple(self.event_steps))
        if signature == self._signature:
            return False
        self._signature = signature
        self._data, self._raw, self._marks, self.x_range = data, raw, marks, x_range
        self._version += 1
        self.refresh()
        return True

    def clear(self) -> None:
        self._data, self._raw, self._marks, self._signature = [], [], [], None
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

    def legend(self, width: int = 0) -> Text:
        """The chart's first line: its title, then each series' colour and label — above the plot, where
        it covers no data (plotext would draw it inside the plot) — centred in ``width`` columns."""
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(self.title, style="bold")
        for i, (label, color, _, _) in enumerate(self._data):
            marker = MARKERS[i % len(MARKERS)]
            text.append("   ")
            text.append(MARKER_GLYPHS.get(marker, marker * 2), style=LEGEND_COLORS.get(color, color))
            text.append(f" {label}")
        notes = [n for n, on in ((f"smoothed {self.smoothing:g}, raw in grey", any(xs for xs, _ in self._raw)),
                                 ("log y", self.log_y), ("log x", self.log_x)) if on]
        if notes:
            text.append(f"   ({', '.join(notes)})", style="dim")
        if width:
            text.truncate(width, overflow="ellipsis")
            text.pad_left(max(0, (width - text.cell_len) // 2))
        return text

    def axis_ranges(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """The (x, y) ranges drawn: ``x_range`` (else the data's steps) and ``value_range`` of the data."""
        if self.x_range is not None:
            x_lo, x_hi = self.x_range
        else:
            x_lo = min(xs[0] for _, _, xs, _ in self._data)
            x_hi = max(xs[-1] for _, _, xs, _ in self._data)
        if x_hi <= x_lo:
            x_lo, x_hi = x_lo - 1, x_hi + 1
        if self.log_x:
            x_lo = max(x_lo, 1.0)  # step 0 has no place on a log axis
            x_hi = max(x_hi, x_lo * 10)
        ys = [y for _, _, _, ys in self._data for y in ys] + [y for _, ys in self._raw for y in ys]
        if self.log_y:
            lo, hi = min(ys), max(ys)
            return (x_lo, x_hi), (lo / 1.5, hi * 1.5) if hi > lo else (lo / 10, hi * 10)
        return (x_lo, x_hi), value_range(ys, self.ylim)

    def _build(self, width: int, height: int) -> RenderResult:
        plt = self.plt
        plt.clear_data()
        plot_height = height - 1  # the legend line is drawn above the plot
        plt.plotsize(width, plot_height)
        plt._set_size(width, plot_height)
        plt.theme(self._get_plotext_theme_name(self.app.theme))
        (xmin, xmax), (ymin, ymax) = self.axis_ranges()
        for raw_xs, raw_ys in self._raw:  # the raw points first, so the smoothed lines are drawn over them
            if raw_xs:
                plt.plot(raw_xs, raw_ys, color=RAW_COLOR, marker="·")
        for i, (_, color, xs, ys) in enumerate(self._data):
            plt.plot(xs, ys, color=color, marker=MARKERS[i % len(MARKERS)])
        for x in self._marks:
            if xmin <= x <= xmax:
                plt.vline(x, "red")
        for x in self.event_steps:
            if xmin <= x <= xmax:
                plt.vline(x, "cyan")
        plt.xlim(xmin, xmax)
        plt.ylim(ymin, ymax)
        plt.xscale("log" if self.log_x else "linear")
        plt.yscale("log" if self.log_y else "linear")
        n_ticks = max(2, min(6, width // 14))
        ticks: list[float] = [round(t) for t in value_ticks(xmin, xmax, n_ticks)]  # round steps: 0, 100, 200 …
        if len(ticks) < 2 or any(abs(t - u) > 1e-6 for t, u in zip(ticks, value_ticks(xmin, xmax, n_ticks),
                                                                     strict=True)):
            ticks = [float(t) for t in step_ticks(xmin, xmax, n_ticks)]  # a short range: whole steps, evenly spaced
        if self.log_x:
            ticks = decade_ticks(xmin, xmax)
        plt.xticks([float(t) for t in ticks], [short_number(t) for t in ticks])
        if self.log_y:
            yticks = decade_ticks(ymin, ymax)
        else:
            yticks = [v for v in value_ticks(ymin, ymax, max(2, min(5, plot_height // 3))) if ymin <= v <= ymax]
        plt.yticks(yticks, tick_labels(yticks))
        self.build_count += 1
        try:
            plot = Text.from_ansi(plt.build(), no_wrap=True)
        except (ValueError, ZeroDivisionError, IndexError, OverflowError) as exc:  # never let a plot kill the app
            return Text(f"{self.title}: cannot draw ({exc})", style="dim")
        return Text("\n").join([self.legend(width), plot])
