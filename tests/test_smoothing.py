"""The charts' smoothing: a debiased EMA that never invents values."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.train.smoothing import ema


@pytest.mark.parametrize("value", [0.001, 1e-3 * 3, 2.302585092994046, 8881.0, 0.0])
@pytest.mark.parametrize("smoothing", [0.0, 0.6, 0.9, 0.99])
def test_smoothing_a_constant_series_gives_that_constant_exactly(value: float, smoothing: float) -> None:
    assert ema([value] * 500, smoothing) == [value] * 500


def test_the_start_is_debiased_not_pulled_to_zero() -> None:
    smoothed = ema([10.0, 10.0, 0.0], 0.9)
    assert smoothed[:2] == [10.0, 10.0]  # a plain EMA from 0 would give 1.0, 1.9
    assert smoothed[2] == pytest.approx(10 * (0.9 * 0.19) / (1 - 0.9**3))
    assert ema([1.0, 2.0, 3.0], 0.0) == [1.0, 2.0, 3.0]  # no smoothing: the raw values


def test_non_finite_values_keep_the_previous_value() -> None:
    assert ema([1.0, math.nan, math.inf, 1.0], 0.5) == [1.0, 1.0, 1.0, 1.0]
    assert math.isnan(ema([math.nan, 2.0], 0.5)[0]) and ema([math.nan, 2.0], 0.5)[1] == 2.0
    with pytest.raises(ValueError, match="smoothing"):
        ema([1.0], 1.0)


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=200), st.sampled_from([0.3, 0.9, 0.99]))
def test_a_smoothed_value_stays_within_the_raw_values_so_far(values: list[float], smoothing: float) -> None:
    for i, s in enumerate(ema(values, smoothing)):
        lo, hi = min(values[: i + 1]), max(values[: i + 1])
        assert lo - 1e-9 * max(1.0, abs(lo)) <= s <= hi + 1e-9 * max(1.0, abs(hi))
