"""Parameter statistics, histograms and digit-embedding similarity (core.probe.param_stats)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.data.vocab import VOCAB
from core.nn.config import ModelConfig
from core.nn.models import build_model
from core.probe.param_stats import cosine_similarity, embedding_similarity, histogram, parameter_stats, snapshot_stats
from core.train.session import ParameterSnapshot


def test_statistics_of_an_ordinary_tensor() -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(0.5, 2.0, (16, 8)).astype(np.float32)
    g = rng.normal(0.0, 1e-3, (16, 8)).astype(np.float32)
    s = parameter_stats(w, g, 1e-3)
    w64 = w.astype(np.float64)
    assert s.shape == (16, 8) and s.size == 128 and s.healthy
    assert s.mean == pytest.approx(w64.mean()) and s.std == pytest.approx(w64.std())
    assert (s.min, s.max) == (float(w.min()), float(w.max()))
    assert s.norm == pytest.approx(np.linalg.norm(w64)) and s.grad_norm == pytest.approx(np.linalg.norm(g))
    assert s.update_ratio == 1e-3
    bare = parameter_stats(w)
    assert math.isnan(bare.grad_norm) and math.isnan(bare.update_ratio)


def test_empty_and_non_finite_tensors_do_not_break_the_summary() -> None:
    empty = parameter_stats(np.zeros((0, 4)), np.zeros((0, 4)), float("nan"))
    assert empty.shape == (0, 4) and empty.size == 0 and empty.norm == 0.0 and empty.grad_norm == 0.0
    assert all(math.isnan(v) for v in (empty.mean, empty.std, empty.min, empty.max))
    w = np.array([1.0, np.nan, 3.0, np.inf, -np.inf], dtype=np.float32)
    g = np.array([3.0, 4.0, np.nan, 0.0, 0.0])
    s = parameter_stats(w, g)
    assert (s.nonfinite, s.grad_nonfinite) == (3, 1) and not s.healthy
    assert (s.mean, s.std, s.min, s.max) == (2.0, 1.0, 1.0, 3.0)
    assert s.norm == pytest.approx(math.sqrt(10)) and s.grad_norm == pytest.approx(5.0)
    nothing = parameter_stats(np.array([np.nan, np.inf]))
    assert nothing.nonfinite == 2 and math.isnan(nothing.mean) and nothing.norm == 0.0
    huge = parameter_stats(np.array([1e308, -1e308, 1e308]))  # sums of squares would overflow
    assert math.isfinite(huge.norm) and math.isfinite(huge.std) and huge.norm == pytest.approx(math.sqrt(3) * 1e308)


def test_snapshot_stats_reads_a_session_snapshot() -> None:
    snap = ParameterSnapshot("head.b", np.array([3.0, 4.0]), np.array([0.0, 2.0]), {}, 0.25)
    s = snapshot_stats(snap)
    assert (s.norm, s.grad_norm, s.update_ratio) == (5.0, 2.0, 0.25)


def test_histogram_counts_every_finite_value_once() -> None:
    values = np.random.default_rng(1).normal(size=1000)
    h = histogram(values, bins=20)
    assert h.counts.shape == (20,) and h.edges.shape == (21,) and h.total == 1000 and h.nonfinite == 0
    assert np.all(np.diff(h.edges) > 0) and h.edges[0] == values.min() and h.edges[-1] == values.max()
    ref, _ = np.histogram(values, bins=20)
    assert np.array_equal(h.counts, ref)


def test_histogram_edge_cases() -> None:
    h = histogram(np.array([np.nan, 1.0, np.inf, 2.0, -np.inf]), bins=4)
    assert h.nonfinite == 3 and h.total == 2 and h.edges[0] == 1.0 and h.edges[-1] == 2.0
    empty = histogram(np.array([]), bins=5)
    assert empty.total == 0 and empty.nonfinite == 0 and list(empty.edges[[0, -1]]) == [0.0, 1.0]
    only_bad = histogram(np.array([np.nan, np.nan]), bins=3)
    assert only_bad.total == 0 and only_bad.nonfinite == 2
    flat = histogram(np.full(7, 2.5), bins=5)
    assert flat.total == 7 and flat.counts[2] == 7 and list(flat.edges[[0, -1]]) == [2.0, 3.0]
    narrow = histogram(np.array([1.0, np.nextafter(1.0, 2.0)]), bins=50)
    assert narrow.total == 2 and np.all(np.diff(narrow.edges) > 0)
    wide = histogram(np.array([-1e308, 0.0, 1e308]), bins=4)
    assert wide.total == 3 and np.all(np.isfinite(wide.edges)) and list(wide.counts) == [1, 0, 1, 1]
    assert histogram(np.arange(6, dtype=np.float32).reshape(2, 3), bins=3).total == 6
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError):
            histogram(np.arange(3.0), bins=bad)  # type: ignore[arg-type]


def test_embedding_similarity_of_the_digits() -> None:
    model = build_model(ModelConfig(d_model=16, n_heads=2, d_ff=16), seed=3)
    sim = embedding_similarity(model)
    assert sim.labels == [str(d) for d in range(10)] and sim.matrix.shape == (10, 10)
    e = model.params["embed.weight"].value[[VOCAB.digit_id(d) for d in range(10)]].astype(np.float64)
    unit = e / np.linalg.norm(e, axis=1, keepdims=True)
    assert np.allclose(sim.matrix, unit @ unit.T)
    assert np.allclose(sim.matrix, sim.matrix.T) and np.all(np.diag(sim.matrix) == 1.0)
    assert np.all(np.abs(sim.matrix) <= 1.0)
    ops = embedding_similarity(model, ["Max", "Min"])
    assert ops.labels == ["Max", "Min"] and ops.matrix.shape == (2, 2)


def test_cosine_similarity_of_a_zero_vector_is_undefined() -> None:
    sim = cosine_similarity(np.array([[1.0, 0.0], [0.0, 0.0], [2.0, 2.0], [-3.0, 0.0]]))
    assert np.all(np.isnan(sim[1])) and np.all(np.isnan(sim[:, 1]))
    assert sim[0, 2] == pytest.approx(math.sqrt(0.5)) and sim[0, 3] == pytest.approx(-1.0) and sim[0, 0] == 1.0
