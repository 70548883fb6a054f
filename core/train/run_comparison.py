"""Comparing recorded runs: the settings in which they differ, and their metrics aligned on steps.

Runs of different lengths are compared at the same *step*, never at the same index of their records
(a run recorded at every step and one recorded every 2nd step have different indices for step 100).
A run that has not reached a step has no value there (None), rather than its last value carried on.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from typing import Any

Series = tuple[Sequence[int], Sequence[float]]


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"dataset": {"task": {"max_value": 9}}}`` → ``{"dataset.task.max_value": 9}`` (lists kept whole)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = tuple(value) if isinstance(value, list) else value
    return out


def config_differences(configs: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """The settings whose values are not the same in every config (dotted names, in the first config's
    order, then any only some configs have), each with its value per config (None where absent)."""
    flat = [flatten(c) for c in configs]
    names: list[str] = []
    for f in flat:
        names.extend(n for n in f if n not in names)
    out: dict[str, list[Any]] = {}
    for name in names:
        values = [f.get(name) for f in flat]
        if any(v != values[0] for v in values[1:]):
            out[name] = values
    return out


def setting_text(value: Any) -> str:
    """A setting's value as a person reads it: ``('Sum', 'Sort')`` → ``Sum, Sort``, 30000 → ``30,000``,
    ``None`` (a setting this run does not have) → ``–``."""
    if value is None:
        return "–"
    if isinstance(value, list | tuple):
        return ", ".join(setting_text(v) for v in value) if value else "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def short_name(dotted: str) -> str:
    """The last part of a dotted setting name: ``optimizer.lr`` → ``lr``."""
    return dotted.rsplit(".", 1)[-1]


def value_at(series: Series, step: int) -> float | None:
    """The series' value at ``step``: the last point at or before it, None before its first point or after
    its last (a run that has not got there has no value)."""
    steps, values = series
    if not steps or step > steps[-1] or step < steps[0]:
        return None
    i = bisect.bisect_right(steps, step) - 1
    return float(values[i])


def aligned(series: Sequence[Series], steps: Sequence[int]) -> list[list[float | None]]:
    """Row per step, column per series: ``value_at`` of each series at each step."""
    return [[value_at(s, step) for s in series] for step in steps]


def common_steps(series: Sequence[Series], n: int = 10) -> list[int]:
    """``n`` evenly spaced steps from the first to the last step any series has (the axis they share)."""
    last = max((s[0][-1] for s in series if s[0]), default=0)
    first = min((s[0][0] for s in series if s[0]), default=0)
    if last <= first:
        return [last]
    n = max(2, n)
    return sorted({round(first + (last - first) * i / (n - 1)) for i in range(n)})
