"""Layers of the transformer, each with its forward and backward pass side by side.

Conventions shared by every layer:
- activations are 2-D ``(batch·time, features)`` arrays so each projection is a single GEMM;
- ``forward`` caches what ``backward`` needs; one ``backward`` follows each ``forward``;
- ``backward(dout)`` *writes* (not accumulates) the gradients of the layer's own parameters — every
  parameter is used exactly once per forward pass — and returns the gradient of the input.
"""

from core.nn.layers.activations import GELU, ReLU
from core.nn.layers.attention import MultiHeadSelfAttention
from core.nn.layers.block import TransformerBlock
from core.nn.layers.dropout import Dropout
from core.nn.layers.embedding import Embedding
from core.nn.layers.feedforward import FeedForward
from core.nn.layers.layernorm import LayerNorm
from core.nn.layers.linear import Linear
from core.nn.layers.positional import LearnedPositions, SinusoidalPositions
from core.nn.layers.softmax import log_softmax, softmax, softmax_backward, softmax_inplace

__all__ = [
    "GELU",
    "Dropout",
    "Embedding",
    "FeedForward",
    "LayerNorm",
    "LearnedPositions",
    "Linear",
    "MultiHeadSelfAttention",
    "ReLU",
    "SinusoidalPositions",
    "TransformerBlock",
    "log_softmax",
    "softmax",
    "softmax_backward",
    "softmax_inplace",
]
