"""The inspector's parameter text, from known tensors: statistics, histogram, heatmap, embeddings."""

from __future__ import annotations

import numpy as np

from core.probe.inspection import ParamView
from core.probe.param_stats import SimilarityMatrix, histogram, parameter_stats
from workbench.render.params import embeddings_text, histogram_text, matrix_text, num, shape_text, stats_text


def view(values: np.ndarray, grad: np.ndarray | None = None) -> ParamView:
    return ParamView("w", parameter_stats(values, grad, None if grad is None else 1e-3), histogram(values, 8),
                     values, "tiny")


def test_stats_text_prints_every_number() -> None:
    lines = stats_text(view(np.array([[1.0, -1.0], [3.0, -3.0]]))).plain.splitlines()
    assert lines[0] == "w  shape 2×2 (4 values) · tiny"
    assert lines[1] == "mean 0  std 2.236  min -3  max 3"
    assert lines[2] == "‖w‖ 4.472  ‖∇w‖ –  update/weight –"
    assert lines[3] == "(no gradient: not a live run)"  # a line of its own, so a narrow column never cuts it


def test_a_live_run_before_its_first_step_says_why_the_gradient_is_zero() -> None:
    values = np.array([1.0, 2.0])
    before = ParamView("w", parameter_stats(values, np.zeros(2), float("nan")), histogram(values, 8), values,
                       "live, step 0")
    lines = stats_text(before).plain.splitlines()
    assert lines[2] == "‖w‖ 2.236  ‖∇w‖ 0  update/weight –"
    hint = "(no training step since the run was built or loaded:"
    assert lines[3] == hint and lines[4] == " ‖∇w‖ and the update appear after the next one)"
    assert all(len(line) <= 52 for line in lines[2:])  # fits the Inspector's detail column at 80×24
    loaded = ParamView("w", parameter_stats(values, np.zeros(2), 0.0), histogram(values, 8), values, "live, step 5")
    assert stats_text(loaded).plain.splitlines()[3] == hint  # a checkpoint loaded into the run: no update yet
    stepped = ParamView("w", parameter_stats(values, np.array([1.0, 0.0]), 1e-3), histogram(values, 8), values,
                        "live, step 6")
    assert "no training step" not in stats_text(stepped).plain


def test_stats_text_with_a_gradient_and_a_warning_for_nan() -> None:
    values = np.array([1.0, np.nan, np.inf, 2.0])
    text = stats_text(view(values, grad=np.array([3.0, 4.0, 0.0, 0.0]))).plain
    assert "‖∇w‖ 5  update/weight 1.00e-03" in text and "no gradient" not in text
    assert text.splitlines()[-1].startswith("⚠ 2 NaN/inf values, 0 in the gradient")


def test_histogram_text_counts_and_draws_bars() -> None:
    values = np.array([0.0] * 6 + [1.0] * 2 + [np.nan])
    lines = histogram_text(histogram(values, 8), width=8).plain.splitlines()
    assert lines[0] == "histogram of the values (8 finite, 1 NaN/inf left out)"
    assert lines[1][0] == "█" and lines[1][-1] == " "  # the tall bar at 0; the short one at 1 is lower
    assert lines[-2][-1] != " "  # the bar at 1 reaches the bottom lines
    assert lines[-1].split() == ["0", "1"]


def test_matrix_text_says_how_it_was_drawn() -> None:
    small = matrix_text(np.arange(6, dtype=float).reshape(2, 3), width=20).plain
    assert small.startswith("heatmap 2×3 drawn as 2×3; ■ negative ■ positive")
    assert small.splitlines()[1] == "▀▀▀"  # two rows in one line of half blocks
    big = matrix_text(np.ones((40, 100)), width=20, lines=4).plain
    assert big.startswith("heatmap 40×100 drawn as 8×20, each cell the mean of ≈5×5 values")
    assert len(big.splitlines()) == 1 + 4


def test_embeddings_text_is_a_labelled_cosine_grid() -> None:
    sim = SimilarityMatrix(np.array([[1.0, -0.5], [-0.5, 1.0]]), ["0", "1"])
    lines = embeddings_text(sim).plain.splitlines()
    assert lines[1].split() == ["0", "1"]
    assert lines[2].split() == ["0", "1", "-.5"] and lines[3].split() == ["1", "-.5", "1"]


def test_shape_and_number_formats() -> None:
    assert shape_text((16, 32)) == "16×32" and shape_text(()) == "scalar"
    assert num(float("inf")) == "–" and num(0.000123456) == "0.0001235"
