"""When the title bar's summary is worth redrawing.

The header is a layout pass of the whole screen. While a run trains, its summary changes every epoch —
several times a second on a tiny dataset — so while the state stays "running" a new summary waits
until ``interval`` seconds have passed since the last one shown; a change of state shows at once.
"""

from __future__ import annotations


class HeaderThrottle:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.shown = ""
        self.state = ""
        self.at = float("-inf")

    def due(self, summary: str, state: str, now: float) -> bool:
        """Should ``summary`` (in run state ``state``, at time ``now``) be shown now? Records it if so."""
        if summary == self.shown:
            return False
        if state == self.state == "running" and now - self.at < self.interval:
            return False  # only the epoch moved: the header can wait
        self.shown, self.state, self.at = summary, state, now
        return True
