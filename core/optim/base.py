"""What every optimizer shares: the flat parameter/gradient vectors, a learning rate, a step count,
and state that can be saved and restored exactly (for bit-identical resume)."""

from __future__ import annotations

import numpy as np

from core.errors import CheckpointError
from core.nn.params import ParameterStore


class Optimizer:
    #: names of the per-parameter state vectors (same length as the flat buffer)
    state_names: tuple[str, ...] = ()

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
