"""What every optimizer shares: the flat parameter/gradient vectors, a learning rate, a step count,
state that can be saved and restored exactly (for bit-identical resume), and the flush of that state's
negligible entries to exactly zero.

Why the flush: once a run has converged, gradient entries sit near zero and the state decays toward it
geometrically (Adam's m by β₁ a step, SGD's velocity by μ). In float32 it then reaches the subnormal
range (|x| < 1.18e-38), where arithmetic may take a slow path on x86 cores without FTZ/DAZ (NumPy sets
neither; measured on this project's AMD EPYC host: an Adam update over all-subnormal state +40%, with 8%
of g and 2% of m subnormal +8%; Intel cores are reported to pay far more), and where it gets stuck: the update
m + (1−β₁)(0 − m) rounds back to m once (1−β₁)·m underflows to 0, so those entries never reach 0.

Every ``FLUSH_EVERY`` steps, the entries of each state vector below that vector's ``flush_below`` limit in
magnitude become exactly 0. The limits are chosen so the flush changes no weight by more than its float32
rounding (the bounds are in each optimizer's docstring), and high enough that with the default decay rates a
value above the limit cannot decay into the subnormal range before the next flush (1e-30 · 0.9³² ≈ 3e-32,
1e-37 · 0.999³² ≈ 1e-37). The flush depends only on the state and the step count, both saved in a
checkpoint, so a resumed run stays bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import numpy as np

from core.errors import CheckpointError
from core.nn.params import ParameterStore


class Optimizer:
    #: names of the per-parameter state vectors (same length as the flat buffer)
    state_names: tuple[str, ...] = ()
    #: (state vector, magnitude below which its entries are flushed to 0); see the module docstring
    flush_below: tuple[tuple[str, float], ...] = ()
    #: steps between flushes; one flush of Adam's 2 × 100K floats takes ~60 µs, ~2 µs a step amortised
    FLUSH_EVERY = 32

    def __init__(self, params: ParameterStore, lr: float, weight_decay: float = 0.0) -> None:
        self.params = params
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.step_count = 0
        self.state: dict[str, np.ndarray] = {
            name: np.zeros_like(params.data) for name in self.state_names
        }

    def step(self) -> None:
        """Apply one update from ``params.grad`` to ``params.data`` in place."""
        self.step_count += 1
        self._update(self.params.data, self.params.grad)
        if self.step_count % self.FLUSH_EVERY == 0:
            self.flush_state()

    def flush_state(self) -> None:
        """Set every entry of each state vector ``name`` with |x| < its ``limit`` to exactly 0 (in place)."""
        for name, limit in self.flush_below:
            x = self.state[name]
            x[np.abs(x) < limit] = 0.0

    def _update(self, w: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError

    def last_update(self) -> np.ndarray:
        """The flat step the last ``step()`` subtracted from the weights (a view; valid until the next
        step). Kept by each optimizer in a buffer it reuses, so recording it costs nothing."""
        raise NotImplementedError

    def state_for(self, name: str) -> dict[str, np.ndarray]:
        """Copies of this optimizer's state for one named parameter (for the inspector)."""
        p = self.params[name]
        return {k: v[p.offset : p.offset + p.size].reshape(p.shape).copy() for k, v in self.state.items()}

    def state_dict(self) -> dict[str, np.ndarray]:
        out = {f"optimizer.{k}": v.copy() for k, v in self.state.items()}
        out["optimizer.step_count"] = np.array([self.step_count], dtype=np.int64)
        return out

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        for k, v in self.state.items():
            arr = state.get(f"optimizer.{k}")
            if arr is None or arr.shape != v.shape:
                raise CheckpointError(f"optimizer state {k!r} is missing or has the wrong shape")
            if not np.all(np.isfinite(arr)):
                raise CheckpointError(f"optimizer state {k!r} holds non-finite values")
        steps = state.get("optimizer.step_count")
        if steps is None or steps.shape != (1,):
            raise CheckpointError("optimizer step count is missing")
        for k, v in self.state.items():
            v[...] = state[f"optimizer.{k}"]
        self.step_count = int(steps[0])
