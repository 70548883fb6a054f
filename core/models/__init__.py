"""The two models built from the same transformer blocks."""

from core.models.backbone import TransformerBackbone
from core.models.decoder import TransformerDecoder
from core.models.encoder import TransformerEncoder
from core.models.factory import build_model

__all__ = ["TransformerBackbone", "TransformerDecoder", "TransformerEncoder", "build_model"]
