"""Build the right model class from a ``ModelConfig``."""

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
