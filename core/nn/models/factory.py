"""Build the right model class from a ``ModelConfig``, and copy a model."""

from __future__ import annotations

import numpy as np

from core.nn.config import ModelConfig
from core.nn.models.decoder import TransformerDecoder
from core.nn.models.encoder import TransformerEncoder

Model = TransformerEncoder | TransformerDecoder


def build_model(config: ModelConfig, seed: int = 0, dtype: np.dtype | type = np.float32) -> Model:
    if config.kind == "decoder":
        return TransformerDecoder(config, seed, dtype)
    return TransformerEncoder(config, seed, dtype)


def copy_model(model: Model, dtype: np.dtype | type | None = None, training: bool = False) -> Model:
    """An independent model with ``model``'s config, seed and current weights (converted to ``dtype`` if
    given), in evaluation mode unless ``training``. ``model`` is only read: probes run on copies because
    a forward pass overwrites a model's caches."""
    copy = build_model(model.config, seed=model.seed, dtype=model.dtype if dtype is None else dtype)
    copy.params.data[...] = model.params.data
    copy.train(training)
    return copy
