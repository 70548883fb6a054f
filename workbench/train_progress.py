"""The progress of a headless training run: a one-line bar on a terminal, plain periodic lines in logs."""

from __future__ import annotations

import time
from typing import TextIO

from core.train.events import StepEvent
from workbench.steering import clock


class Progress:
    """A one-line progress bar on a terminal; plain periodic lines otherwise (logs, pipes)."""

    def __init__(self, total: int, stream: TextIO, interval: float = 2.0) -> None:
        self.total, self.stream = max(1, total), stream
        self.tty = stream.isatty()
        self.interval = 0.1 if self.tty else interval
        self.t0 = time.monotonic()
        self.last = 0.0
        self.start_step: int | None = None
        self.val: float | None = None
        self.saved_step: int | None = None  # the step of the last periodic save, shown on the line

    def update(self, e: StepEvent, force: bool = False) -> None:
        now = time.monotonic()
        if self.start_step is None:
            self.start_step = e.step - 1
        if not force and now - self.last < self.interval:
            return
        self.last = now
        done = e.step - self.start_step
        rate = done / max(now - self.t0, 1e-9)
        eta = (self.total - e.step) / rate if rate > 0 else 0.0
        frac = min(1.0, e.step / self.total)
        val = f" val acc {self.val:.2%}" if self.val is not None else ""
        saved = f" · saved at step {self.saved_step}" if self.saved_step is not None else ""
        text = (f"step {e.step}/{self.total} epoch {e.epoch + 1} loss {e.loss:.4f} batch acc {e.accuracy:.1%}{val} "
                f"lr {e.lr:.2g} {e.tokens_per_s:,.0f} tok/s ETA {clock(eta)}{saved}")
        if self.tty:
            bar = "█" * int(frac * 24) + "·" * (24 - int(frac * 24))
            self.stream.write(f"\r{bar} {frac:4.0%} {text}\x1b[K")
        else:
            self.stream.write(f"{frac:4.0%} {text}\n")
        self.stream.flush()

    def note(self, text: str) -> None:
        """A line of its own (a save, an interruption): on a terminal it replaces the bar, which is
        drawn again below it at the next update."""
        self.stream.write(f"\r{text}\x1b[K\n" if self.tty else f"{text}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
