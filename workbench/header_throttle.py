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


#: Columns of Textual's ``Header`` that are not the title: the icon (8) and the clock space (10).
HEADER_CHROME = 18
SEPARATOR = " · "


def header_summary(summary: str, state: str) -> str:
    """What the title bar should say of the run: while it runs, only that it runs — the epoch and the
    step change all the time and the status line shows them at once, so a throttled copy of them in
    the title bar could only lag behind it (the epoch there was up to ``interval`` seconds old)."""
    if state == "running":
        return summary.split(SEPARATOR)[0]
    return summary


def fit_summary(summary: str, title: str, width: int) -> str:
    """``summary`` shortened so that ``"{title} — {summary}"`` fits the title bar of a ``width``-column
    terminal: its middle parts (``step 12,345/31,300``) go first, the state and the last part (the
    epoch) stay; only if that is still too long is the text cut, with an ellipsis."""
    room = width - HEADER_CHROME - len(title) - len(" — ")
    parts = summary.split(SEPARATOR)
    while len(SEPARATOR.join(parts)) > room and len(parts) > 2:
        del parts[-2]
    text = SEPARATOR.join(parts)
    if len(text) > room:
        text = text[: max(0, room - 1)] + "…" if room > 1 else ""
    return text
