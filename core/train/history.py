"""Bounded metric history: keeps the shape of a run of any length in a fixed amount of memory.

Each series keeps at most ``capacity`` points. When it is full, adjacent pairs of points are merged
(step of the later one, mean of the values) and the stride doubles, so old stretches get coarser and the
recent past stays detailed enough to plot. Non-finite values are kept out of the means (a NaN would
poison every merged point after it) but still counted in ``n_nonfinite``.

Thread safety: the training worker adds points while the UI reads them, and a full series is rebuilt
by ``_halve``. Every public method of ``MetricHistory`` holds one lock, so a reader always gets a
consistent copy — never a list being halved — and the lock is held only for a copy, never for a draw.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable


class Series:
    def __init__(self, capacity: int = 1000) -> None:
        if capacity < 4:
            raise ValueError("capacity must be at least 4")
        self.capacity = capacity
        self.steps: list[int] = []
        self.values: list[float] = []
        self.stride = 1  # raw points per stored point for the points added from now on
        self._pending: list[tuple[int, float]] = []
        self.n_nonfinite = 0

    def __len__(self) -> int:
        return len(self.steps)

    def add(self, step: int, value: float) -> None:
        if not math.isfinite(value):
            self.n_nonfinite += 1
            return
        self._pending.append((step, value))
        if len(self._pending) < self.stride:
            return
        self.steps.append(self._pending[-1][0])
        self.values.append(_mean([v for _, v in self._pending]))
        self._pending.clear()
        if len(self.steps) >= self.capacity:
            self._halve()

    def _halve(self) -> None:
        n = len(self.steps) // 2 * 2
        merged_steps = [self.steps[i + 1] for i in range(0, n, 2)]
        merged_values = [(self.values[i] + self.values[i + 1]) / 2 for i in range(0, n, 2)]
        if n < len(self.steps):  # an odd point left over stays as it is
            merged_steps.append(self.steps[-1])
            merged_values.append(self.values[-1])
        self.steps, self.values = merged_steps, merged_values
        self.stride *= 2

    def points(self) -> tuple[list[int], list[float]]:
        """Copies of (steps, values), including a partial trailing bucket so the latest value shows."""
        steps, values = list(self.steps), list(self.values)
        if self._pending:
            steps.append(self._pending[-1][0])
            values.append(_mean([v for _, v in self._pending]))
        return steps, values

    def last(self) -> float | None:
        if self._pending:
            return self._pending[-1][1]
        return self.values[-1] if self.values else None


class MetricHistory:
    """Named series (``train/loss``, ``val/accuracy``, ``lr`` …) plus marks such as learning-rate edits."""

    def __init__(self, capacity: int = 1000, max_marks: int = 1000) -> None:
        self.capacity = capacity
        self.series: dict[str, Series] = {}
        self.marks: list[tuple[int, str]] = []  # (step, label)
        self.max_marks = max_marks
        self._lock = threading.Lock()
        self.version = 0  # bumped by every change: a reader can tell whether anything is new

    def add(self, step: int, values: dict[str, float]) -> None:
        with self._lock:
            for name, value in values.items():
                s = self.series.get(name)
                if s is None:
                    s = self.series[name] = Series(self.capacity)
                s.add(step, float(value))
            self.version += 1

    def mark(self, step: int, label: str) -> None:
        with self._lock:
            self.marks.append((step, label))
            if len(self.marks) > self.max_marks:
                del self.marks[: len(self.marks) - self.max_marks]
            self.version += 1

    def points(self, name: str) -> tuple[list[int], list[float]]:
        with self._lock:
            s = self.series.get(name)
            return s.points() if s else ([], [])

    def names(self) -> Iterable[str]:
        with self._lock:
            return list(self.series)

    def marks_copy(self) -> list[tuple[int, str]]:
        with self._lock:
            return list(self.marks)

    def last_step(self) -> int:
        """The latest step of any series (0 when empty)."""
        with self._lock:
            return max((s.points()[0][-1] for s in self.series.values() if len(s) or s._pending), default=0)

    def to_records(self) -> list[dict[str, object]]:
        """JSON-lines records, one per series, for ``history.jsonl``."""
        with self._lock:
            records: list[dict[str, object]] = []
            for name, s in self.series.items():
                steps, values = s.points()
                records.append({"series": name, "steps": steps, "values": values, "stride": s.stride})
            records.extend({"mark": label, "step": step} for step, label in self.marks)
            return records

    @classmethod
    def from_records(cls, records: list[dict[str, object]], capacity: int = 1000) -> MetricHistory:
        h = cls(capacity)
        for rec in records:
            if "series" in rec:
                s = h.series[str(rec["series"])] = Series(capacity)
                steps, values = rec.get("steps", []), rec.get("values", [])
                if isinstance(steps, list) and isinstance(values, list):
                    for st, v in zip(steps, values, strict=False):
                        if isinstance(st, int) and isinstance(v, int | float):
                            s.steps.append(st)
                            s.values.append(float(v))
                stride = rec.get("stride", 1)
                s.stride = stride if isinstance(stride, int) and stride >= 1 else 1
                while len(s.steps) >= capacity:
                    s._halve()
            elif "mark" in rec and isinstance(step := rec.get("step"), int):
                h.marks.append((step, str(rec["mark"])))
        return h


def _mean(values: list[float]) -> float:
    """The mean of a bucket, exact when every value is the same (a constant learning rate stays 0.001, not
    0.0010000000000000005: a plain sum would drift), else correctly rounded (``math.fsum``)."""
    first = values[0]
    if all(v == first for v in values):
        return first
    return math.fsum(values) / len(values)
