"""Optimizers against hand-computed updates, clipping, and learning-rate schedules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.errors import CheckpointError, ConfigError
from core.nn.params import ParameterStore
from core.optim import (
    SGD,
    Adam,
    AdamW,
    ConstantSchedule,
    StepSchedule,
    WarmupCosineSchedule,
    build_optimizer,
    build_schedule,
    clip_grad_norm,
)
from core.optim.config import OptimizerConfig


def _store() -> ParameterStore:
    s = ParameterStore(np.float64)
    s.create("w", np.array([[1.0, -2.0], [3.0, 0.5]]), decay=True)
    s.create("b", np.array([0.1, -0.1]), decay=False)
    s.finalize()
    s.grad[...] = [0.5, -1.0, 0.25, 2.0, 1.0, -0.5]
    return s


def test_sgd_momentum_matches_formula() -> None:
    s = _store()
    w0, g = s.data.copy(), s.grad.copy()
    opt = SGD(s, lr=0.1, momentum=0.9)
    opt.step()
    opt.step()
    v1 = g
    v2 = 0.9 * v1 + g
    assert np.allclose(s.data, w0 - 0.1 * v1 - 0.1 * v2)


@pytest.mark.parametrize("cls", [Adam, AdamW])
def test_adam_matches_formula(cls: type) -> None:
    s = _store()
    w, g = s.data.copy(), s.grad.copy()
    wd, lr, b1, b2, eps = 0.1, 0.01, 0.9, 0.999, 1e-8
    opt = cls(s, lr=lr, weight_decay=wd)
    m, v = np.zeros_like(w), np.zeros_like(w)
    mask = s.decay_mask
    for t in (1, 2, 3):
        opt.step()
        gt = g + wd * w * mask if cls is Adam else g
        m = b1 * m + (1 - b1) * gt
        v = b2 * v + (1 - b2) * gt * gt
        if cls is AdamW:
            w = w - lr * wd * w * mask
        w = w - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        assert np.allclose(s.data, w, rtol=1e-12, atol=1e-14)


def test_weight_decay_skips_biases() -> None:
    s = _store()
    s.grad[...] = 0.0
    b0 = s["b"].value.copy()
    AdamW(s, lr=0.1, weight_decay=0.5).step()
    assert np.array_equal(s["b"].value, b0)
    assert not np.array_equal(s["w"].value, [[1.0, -2.0], [3.0, 0.5]])


def test_optimizer_state_round_trip_and_validation() -> None:
    s = _store()
    opt = Adam(s, lr=0.01)
    opt.step()
    state = opt.state_dict()
    fresh = Adam(_store(), lr=0.01)
    fresh.load_state_dict(state)
    assert fresh.step_count == 1 and np.array_equal(fresh.state["m"], opt.state["m"])
    assert set(opt.state_for("b")) == {"m", "v"} and opt.state_for("b")["m"].shape == (2,)
    state["optimizer.v"] = state["optimizer.v"][:3]
    with pytest.raises(CheckpointError, match="wrong shape"):
        fresh.load_state_dict(state)


def test_clip_grad_norm() -> None:
    g = np.array([3.0, 4.0])
    assert clip_grad_norm(g, 1.0) == pytest.approx(5.0)
    assert np.linalg.norm(g) == pytest.approx(1.0)
    g = np.array([0.3, 0.4])
    clip_grad_norm(g, 1.0)
    assert np.allclose(g, [0.3, 0.4])  # below the threshold: untouched
    g = np.array([30.0, 40.0])
    clip_grad_norm(g, 0.0)
    assert np.allclose(g, [30.0, 40.0])  # 0 disables clipping


def test_schedules() -> None:
    assert ConstantSchedule(0.1)(1000) == 0.1
    cos = WarmupCosineSchedule(1.0, warmup_steps=10, total_steps=110, min_lr=0.1)
    assert cos(0) == pytest.approx(0.1) and cos(9) == pytest.approx(1.0)
    assert cos(60) == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi * 0.5)))
    assert cos(110) == pytest.approx(0.1) and cos(10_000) == pytest.approx(0.1)
    step = StepSchedule(1.0, step_size=100, gamma=0.5)
    assert [step(0), step(99), step(100), step(250)] == [1.0, 1.0, 0.5, 0.25]


def test_factories_follow_the_config() -> None:
    s = _store()
    assert isinstance(build_optimizer(OptimizerConfig(name="adamw"), s), AdamW)
    assert isinstance(build_optimizer(OptimizerConfig(name="sgd", momentum=0.5), s), SGD)
    sched = build_schedule(OptimizerConfig(schedule="cosine", lr=0.5, warmup_steps=5, total_steps=50))
    assert isinstance(sched, WarmupCosineSchedule) and sched(4) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "adagrad"}, "optimizer must be one of"),
        ({"lr": 0}, "lr must be in"),
        ({"lr": float("nan")}, "lr must be in"),
        ({"batch_size": 0}, "batch_size"),
        ({"schedule": "cosine", "total_steps": 0}, "total_steps"),
        ({"clip_norm": "big"}, "clip_norm must be a number"),
    ],
)
def test_optimizer_config_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        OptimizerConfig(**kwargs)


@pytest.mark.parametrize("cls", [SGD, Adam])
def test_last_update_is_the_step_taken(cls: type) -> None:
    s = _store()
    before = s.data.copy()
    opt = cls(s, lr=0.05)
    opt.step()
    assert np.allclose(before - s.data, opt.last_update())
