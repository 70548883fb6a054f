"""The two models built from the same transformer blocks."""

from core.nn.models.backbone import TransformerBackbone
from core.nn.models.decoder import TransformerDecoder
from core.nn.models.encoder import TransformerEncoder
from core.nn.models.factory import Model, build_model, copy_model

__all__ = ["Model", "TransformerBackbone", "TransformerDecoder", "TransformerEncoder", "build_model", "copy_model"]
