"""Position-wise feed-forward network: y = act(x W₁ + b₁) W₂ + b₂ (expand to d_ff, then project back)."""

from __future__ import annotations

import numpy as np

from core.nn.layers.activations import make_activation
from core.nn.layers.linear import Linear
from core.nn.params import ParameterStore


class FeedForward:
    def __init__(
        self, store: ParameterStore, name: str, d_model: int, d_ff: int, activation: str, rng: np.random.Generator
    ):
        self.fc1 = Linear(store, f"{name}.fc1", d_model, d_ff, rng)
        self.act = make_activation(activation)
        self.fc2 = Linear(store, f"{name}.fc2", d_ff, d_model, rng)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.fc2.forward(self.act.forward(self.fc1.forward(x)))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return self.fc1.backward(self.act.backward(self.fc2.backward(dout)))
