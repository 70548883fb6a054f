"""Optimizer state never keeps subnormal floats, and flushing them to 0 does not change the training.

A converged run drives gradients and optimizer state toward 0; in float32 they reach the subnormal range
(|x| < 1.18e-38), where arithmetic can take a slow path and Adam's m gets stuck (see ``core/optim/base.py``).
The optimizers flush negligible state to exactly 0 every ``FLUSH_EVERY`` steps; these tests check that the
state is clean afterwards and that the weights are what they would have been without the flush.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.nn.params import ParameterStore
from core.optim import SGD, Adam, AdamW
from core.optim.base import Optimizer

TINY = float(np.finfo(np.float32).tiny)  # smallest normal float32, 1.18e-38
N = 4096
LIMITS = dict(Adam.flush_below) | dict(SGD.flush_below)  # state vector → its flush limit


def _subnormals(x: np.ndarray) -> int:
    return int(np.count_nonzero((x != 0) & (np.abs(x) < TINY)))


def _store(seed: int = 0) -> ParameterStore:
    rng = np.random.default_rng(seed)
    s = ParameterStore(np.float32)
    s.create("w", rng.standard_normal(N).astype(np.float32) * 0.1, decay=True)
    s.create("b", rng.standard_normal(N).astype(np.float32) * 0.01, decay=False)
    s.finalize()
    return s


def _converged(cls: type[Optimizer], seed: int = 0) -> tuple[ParameterStore, Optimizer, np.ndarray]:
    """A store and optimizer in the state of a run long past convergence: a tenth of the gradient zero, a
    tenth subnormal, the rest tiny but normal, and the optimizer state a mix of normal values, values just
    above the flush limits, values below them and subnormals."""
    rng = np.random.default_rng(seed)
    s = _store(seed)
    opt = cls(s, lr=1e-3)
    size = s.data.size
    g = (rng.standard_normal(size) * 1e-6).astype(np.float32)
    which = rng.random(size)
    g[which < 0.1] = 0.0
    g[(which >= 0.1) & (which < 0.2)] = np.float32(3e-39)
    for name in opt.state_names:  # by name, not by flush_below: the no-flush twins get the same state
        x, limit = opt.state[name], LIMITS[name]
        x[...] = np.abs(rng.standard_normal(size)).astype(np.float32) * (1e-12 if name == "v" else 1e-6)
        pick = rng.random(size)
        x[pick < 0.1] = np.float32(1e-40)  # subnormal
        x[(pick >= 0.1) & (pick < 0.2)] = np.float32(limit / 10)  # normal, below the limit
        x[(pick >= 0.2) & (pick < 0.3)] = np.float32(limit * 10)  # above the limit
        if name != "v":
            x[rng.random(size) < 0.5] *= -1
    opt.step_count = 1000 * opt.FLUSH_EVERY  # bias corrections of a long run; the next flush FLUSH_EVERY steps on
    return s, opt, g


class _NoFlush:
    """Mixin: the same optimizer with the flush switched off (the reference the flush is compared with)."""

    flush_below: tuple[tuple[str, float], ...] = ()


class AdamNoFlush(_NoFlush, Adam):
    pass


class AdamWNoFlush(_NoFlush, AdamW):
    pass


class SGDNoFlush(_NoFlush, SGD):
    pass


PAIRS = [(Adam, AdamNoFlush), (AdamW, AdamWNoFlush), (SGD, SGDNoFlush)]


@pytest.mark.parametrize("cls", [Adam, AdamW, SGD])
def test_state_seeded_with_subnormals_holds_none_after_one_flush_period(cls: type[Optimizer]) -> None:
    s, opt, g = _converged(cls)
    assert sum(_subnormals(x) for x in opt.state.values()) > 0
    for _ in range(opt.FLUSH_EVERY):
        s.grad[...] = g  # subnormal gradient entries every step, as in a converged run
        opt.step()
    assert opt.step_count % opt.FLUSH_EVERY == 0
    for name, limit in opt.flush_below:
        x = opt.state[name]
        assert _subnormals(x) == 0, name
        assert not np.any((x != 0) & (np.abs(x) < limit)), f"{name} keeps values below its limit"


def test_without_the_flush_adams_m_gets_stuck_at_subnormal_values() -> None:
    """Why the flush is needed at all: with a zero gradient, m + (1−β₁)(0 − m) rounds back to m."""
    s, opt, _ = _converged(AdamNoFlush)
    m = opt.state["m"]
    m[...] = np.float32(1e-44)
    for _ in range(200):
        s.grad[...] = 0.0
        opt.step()
    assert _subnormals(m) == m.size  # 0.9²⁰⁰·1e-44 would be 0; float32 keeps every one of them


@pytest.mark.parametrize(("cls", "reference"), PAIRS)
def test_flushing_leaves_the_weights_bit_identical(cls: type[Optimizer], reference: type[Optimizer]) -> None:
    """The documented bound: a flushed m entry's step is < η·1e-30/((1−β₁)·ε) = 1e-24 (SGD: η·1e-30), below
    half an ulp of every weight here (|w| > 1e-6), and a flushed v is below the rounding of ε·c₂. So over
    several flush periods the weights are bit-identical to those of the same optimizer without the flush."""
    s1, a, g = _converged(cls)
    s2, b, _ = _converged(reference)
    assert np.abs(s1.data).min() > 1e-6
    rng = np.random.default_rng(1)
    for step in range(3 * a.FLUSH_EVERY):
        grad = g if step % 2 else g * rng.random(g.size).astype(np.float32)  # the gradient keeps changing
        s1.grad[...] = grad
        s2.grad[...] = grad
        a.step()
        b.step()
    assert np.array_equal(s1.data, s2.data)
    assert sum(_subnormals(x) for x in b.state.values()) > 0  # the reference did keep subnormals


def test_the_bound_holds_for_a_weight_smaller_than_the_update_resolution() -> None:
    """A weight so small that the bound is not below its ulp moves by at most the bound: η·1e-30/((1−β₁)·ε)."""
    s1, a, _ = _converged(Adam)
    s2, b, _ = _converged(AdamNoFlush)
    for s in (s1, s2):
        s.data[:8] = np.float32(1e-30)
    for opt in (a, b):
        opt.state["m"][:8] = np.float32(5e-31)  # below the limit: flushed in ``a`` only
        opt.state["v"][:8] = 0.0
    zero = np.zeros_like(s1.grad)
    for _ in range(a.FLUSH_EVERY):
        s1.grad[...] = zero
        s2.grad[...] = zero
        a.step()
        b.step()
    bound = 1e-3 * 1e-30 / ((1 - 0.9) * 1e-8)
    assert np.max(np.abs(s1.data[:8].astype(np.float64) - s2.data[:8])) <= a.FLUSH_EVERY * bound


def test_flush_happens_on_the_step_count_so_resume_stays_deterministic() -> None:
    """The flush depends on the saved step count only: a state restored mid-period flushes on the same step."""
    s1, a, g = _converged(Adam)
    saved = a.state_dict()
    s2 = _store()
    s2.data[...] = s1.data
    b = Adam(s2, lr=1e-3)
    b.load_state_dict(saved)
    for _ in range(a.FLUSH_EVERY + 3):
        s1.grad[...] = g
        s2.grad[...] = g
        a.step()
        b.step()
    assert np.array_equal(s1.data, s2.data)
    assert all(np.array_equal(a.state[k], b.state[k]) for k in a.state)
