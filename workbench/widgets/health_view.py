"""The Training pane's Health view: training-health figures with their reasons, and what happened in the run.

The figures (``core.probe.health``) are measured on the training thread between two steps — the request
posts them back as a ``HealthMeasured`` message — every ``HEALTH_INTERVAL`` seconds while the view is on
screen; the events (``core.train.dynamics``) are found in the metric history on the UI thread, which
costs a millisecond.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Static

from core.probe.health import UPDATE_BAND, HealthFigure
from core.train.dynamics import DynamicsEvent, summary_lines

HEALTH_INTERVAL = 5.0  # s between measurements while the view is shown
EVENTS_SHOWN = 10  # summary lines: each phase, and one line per kind that repeats (about 9 in a grokking run)
VERDICT_STYLE = {"ok": "green", "low": "yellow", "high": "yellow", "?": "dim"}


class HealthMeasured(Message):
    """The figures measured between two steps, at ``step``."""

    def __init__(self, step: int, figures: list[HealthFigure]) -> None:
        super().__init__()
        self.step, self.figures = step, figures


def health_text(step: int | None, figures: Sequence[HealthFigure], events: Sequence[DynamicsEvent]) -> Text:
    """What happened (the dynamics events, first: they explain the run), then the health figures, grouped
    (update ratios summarised with the flagged ones named). Lines wrap: an event cut at the panel's width
    lost its meaning."""
    text = Text()
    text.append("what happened\n", style="bold")
    if not events:
        text.append("  nothing notable yet (memorising, generalising, spikes and a rising loss are marked here)\n",
                    style="dim")
    for line in summary_lines(events)[-EVENTS_SHOWN:]:
        head, _, rest = line.partition(": ")
        text.append(f"  {head}: ", style="cyan")
        text.append(f"{rest}\n")
    text.append("training health" + (f" at step {step:,}" if step is not None else ""), style="bold")
    ratios = [f for f in figures if f.name not in ("gradient-norm spikes",) and "dead FFN" not in f.name]
    text.append("\n")
    if not figures:
        text.append("  measured once the run has taken a step\n", style="dim")
    if ratios:
        values = [f.value for f in ratios if f.value == f.value]
        lo, hi = UPDATE_BAND
        text.append(f"update/weight ‖Δw‖/‖w‖ (usual ~1e-3; flagged outside {lo:g}–{hi:g})\n", style="bold")
        if values:
            text.append(f"  median {statistics.median(values):.2g} · range {min(values):.2g}–{max(values):.2g}\n")
        flagged = [f for f in ratios if f.verdict in ("low", "high")]
        for f in flagged[:3]:
            text.append(f"  {f.name} {f.value:.2g}: ", style=VERDICT_STYLE.get(f.verdict, ""))
            text.append(f"{f.reason}\n", style="dim")
        if len(flagged) > 3:
            text.append(f"  … and {len(flagged) - 3} more flagged\n", style="dim")
        if not flagged:
            text.append("  every parameter within the band\n", style="green")
    for f in figures:
        if f in ratios:
            continue
        value = f"{f.value:.0%}" if "dead" in f.name else f"{f.value:.0f}"
        text.append(f"{f.name}: ", style="bold")
        text.append(value, style=VERDICT_STYLE.get(f.verdict, ""))
        text.append(f" — {f.reason}\n", style="dim")
    text.rstrip()
    return text


class HealthView(Static, can_focus=True):
    """Shows ``health_text``; the panel feeds it figures and events. Focusable, so the keys scroll it when
    it is longer than its cell (the mouse wheel does too)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "scroll_up", "Scroll up", show=False), Binding("down", "scroll_down", "Scroll down", show=False),
        Binding("pageup", "page_up", "Page up", show=False), Binding("pagedown", "page_down", "Page down", show=False),
    ]

    DEFAULT_CSS = """
    HealthView { height: 1fr; overflow-y: auto; padding: 0 1; }
    """

    def __init__(self, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes)
        self.step: int | None = None
        self.figures: list[HealthFigure] = []
        self.events: list[DynamicsEvent] = []

    def show(self, step: int | None = None, figures: list[HealthFigure] | None = None,
             events: list[DynamicsEvent] | None = None) -> None:
        if figures is not None:
            self.step, self.figures = step, figures
        if events is not None:
            self.events = events
        self.update(health_text(self.step, self.figures, self.events))
