"""The shared drawing primitives: labelled shaded grids, bars, column histograms, half-block maps."""

from __future__ import annotations

import numpy as np

from workbench.render.grids import column_histogram, downsample, grid, half_block_map, hbar


def test_grid_prints_labels_percent_cells_and_the_marked_row() -> None:
    lines = grid(np.array([[0.42, 0.58], [1.0, 0.001]]), ["a", "bb"], ["x", "y"], highlight_row=1).plain.splitlines()
    assert lines[0] == "     x  y "
    assert lines[1] == " a  42 58 "
    assert lines[2] == "bb▶ **    "  # 100% as **, below 0.5% blank


def test_grid_signed_and_count_values_and_non_finite_cells() -> None:
    signed = grid(np.array([[1.0, -0.8, 0.0]]), ["r"], ["a", "b", "c"], cell_width=4, signed=True, values="signed",
                  lo=-1, hi=1).plain.splitlines()
    assert signed[1].split() == ["r", "1", "-.8", "0"]
    counts = grid(np.array([[0.0, 7.0, 2500.0, np.nan]]), ["r"], list("abcd"), cell_width=4, values="count").plain
    assert counts.splitlines()[1].split() == ["r", "7", "2k", "·"]


def test_hbar_fills_eighths_of_cells() -> None:
    assert hbar(1.0, 4) == "████"
    assert hbar(0.5, 4) == "██  "
    assert hbar(1 / 32, 4) == "▏   "
    assert hbar(float("nan"), 3) == "   " and hbar(2.0, 2) == "██"


def test_column_histogram_regroups_into_the_width() -> None:
    text = column_histogram(np.array([4, 0, 0, 0, 0, 0, 0, 2]), np.linspace(-1, 1, 9), width=4, height=2).plain
    top, bottom, axis = text.splitlines()
    assert (top, bottom) == ("█   ", "█  █")  # 4 | 0 | 0 | 2 at two lines of height
    assert axis.split() == ["-1", "1"]


def test_downsample_takes_block_means_and_ignores_nan() -> None:
    m = np.array([[1.0, 3.0, np.nan, np.nan], [5.0, 7.0, np.nan, np.nan]])
    out = downsample(m, 1, 2)
    assert out[0, 0] == 4.0 and np.isnan(out[0, 1])


def test_half_block_map_draws_two_rows_per_line() -> None:
    text, (rows, cols) = half_block_map(np.arange(12, dtype=float).reshape(4, 3) - 6, max_cols=3, max_lines=2)
    assert (rows, cols) == (4, 3) and text.plain == "▀▀▀\n▀▀▀"
