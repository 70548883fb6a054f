"""Position-wise feed-forward network: y = act(x W₁ + b₁) W₂ + b₂ (expand to d_ff, then project back).

The hidden layer h = act(x W₁ + b₁) holds the "neurons" the Lab ablates: a ``hook`` (see ``hooks``) sees
h and the rest of the layer sees what it returns.
"""

from __future__ import annotations

import numpy as np

from core.nn.layers.activations import make_activation
from core.nn.layers.hooks import Hook, Where
from core.nn.layers.linear import Linear
from core.nn.params import ParameterStore


class FeedForward:
    def __init__(
        self, store: ParameterStore, name: str, d_model: int, d_ff: int, activation: str, rng: np.random.Generator
    ):
        self.fc1 = Linear(store, f"{name}.fc1", d_model, d_ff, rng)
        self.act = make_activation(activation)
        self.fc2 = Linear(store, f"{name}.fc2", d_ff, d_model, rng)
        self._hook: Hook | None = None

    def forward(self, x: np.ndarray, hook: Hook | None = None, where: Where | None = None) -> np.ndarray:
        h = self.act.forward(self.fc1.forward(x))
        self._hook = hook
        if hook is not None:
            assert where is not None, "a hooked feed-forward layer needs the rows' places"
            h = hook.forward(h, where)
        return self.fc2.forward(h)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dh = self.fc2.backward(dout)
        if self._hook is not None:
            dh = self._hook.backward(dh)
        return self.fc1.backward(self.act.backward(dh))
