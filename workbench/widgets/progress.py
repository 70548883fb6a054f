"""Epoch and overall progress of a run on one line.

Textual's ProgressBar updates its percentage label with a layout pass (the whole screen is re-arranged,
~30 ms with the workbench's widgets), several times a second while training — CPU the training thread
then waits for (GIL). This widget has a fixed size and only repaints itself.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget

LABELS = ("epoch", "total")


def bar(fraction: float, width: int) -> Text:
    """A thin bar: ``━`` done, a half segment at the edge, dim ``━`` for the rest."""
    fraction = min(max(fraction, 0.0), 1.0)
    halves = round(fraction * width * 2)
    full, half = divmod(halves, 2)
    text = Text("━" * full, style="cyan")
    if half:
        text.append("╸", style="cyan")
    text.append("━" * (width - full - half), style="grey35")
    return text


class RunProgress(Widget):
    """``epoch ━━━━╸━━━━  42%  total ━━━━━━━━   3%``; ``set`` repaints only when a percentage moves."""

    DEFAULT_CSS = """
    RunProgress {
        height: 1;
        width: 1fr;
    }
    """

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.fractions: tuple[float | None, float | None] = (None, None)
        self._shown: object = None

    def set(self, epoch: float | None, total: float | None) -> None:
        """Set both fractions (0–1, or None when there is no run)."""
        self.fractions = (epoch, total)
        key = tuple(None if f is None else round(f * 1000) for f in self.fractions)
        if key != self._shown:
            self._shown = key
            self.refresh()

    def percent(self, index: int) -> str:
        f = self.fractions[index]
        return "  --%" if f is None else f"{min(max(f, 0.0), 1.0):5.0%}"

    def render(self) -> RenderResult:
        each = max(4, (self.size.width - 2 * (len("epoch ") + 5) - 2) // 2)
        text = Text()
        for i, label in enumerate(LABELS):
            if i:
                text.append("  ")
            text.append(f"{label} ", style="dim")
            text.append_text(bar(self.fractions[i] or 0.0, each))
            text.append(self.percent(i))
        return text
