"""Exponential moving average with a debiased start — the smoothing the charts draw over the raw series.

With smoothing β (0 = none, 0.99 = very smooth), the plain EMA s_t = β·s_{t−1} + (1−β)·x_t started at
s_0 = 0 is biased towards 0 for the first ~1/(1−β) points. Dividing by the total weight
w_t = β·w_{t−1} + (1−β) = 1 − β^t removes the bias (as Adam does for its moments). Written as an update,

    ŝ_t = ŝ_{t−1} + (x_t − ŝ_{t−1}) · (1−β) / w_t,        ŝ_1 = x_1  (since w_1 = 1−β),

the smoothed value of a constant series is that constant *exactly* (the update adds 0), not a float
neighbour of it; and every smoothed value lies between the smallest and largest raw value so far, so
smoothing never draws a value the run did not come near.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: the smoothing levels the charts cycle through (0 = raw only)
SMOOTHING_LEVELS: tuple[float, ...] = (0.0, 0.6, 0.9, 0.99)


def ema(values: Sequence[float], smoothing: float) -> list[float]:
    """The debiased EMA of ``values`` with smoothing ``smoothing`` in [0, 1); non-finite values are
    skipped (they keep the previous smoothed value), so one NaN does not poison the rest."""
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
    out: list[float] = []
    weight, current = 0.0, math.nan
    for x in values:
        if not math.isfinite(x):
            out.append(current)
            continue
        weight = smoothing * weight + (1.0 - smoothing)
        current = x if math.isnan(current) else current + (x - current) * ((1.0 - smoothing) / weight)
        out.append(current)
    return out
