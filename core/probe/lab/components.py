"""Names of the parts of a model the Lab switches off or reads: heads, neurons and whole sublayers.

A head is written ``layer.head``, both counted from 0 as in the parameter names (``blocks.0.attn…``): "1.3"
is head 3 of the second block. Neurons are ``layer:which`` — ``1:7`` one neuron, ``1:10-20`` a range
(inclusive), ``1:top8`` the 8 most active on the reference set (resolved by ``core.probe.lab.ablation``). A
sublayer is ``layer.attn`` or ``layer.ffn``. Every parser checks the names against the model and says
what exists when one does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import LabError
from core.nn.config import ModelConfig

SUBLAYERS = ("attn", "ffn")


@dataclass(frozen=True, order=True)
class HeadId:
    layer: int
    head: int

    def __str__(self) -> str:
        return f"{self.layer}.{self.head}"


@dataclass(frozen=True)
class NeuronChoice:
    """Neurons of one layer's feed-forward block: the listed ones, or the ``top`` most active."""

    layer: int
    neurons: tuple[int, ...] = ()
    top: int = 0

    def __str__(self) -> str:
        if self.top:
            return f"{self.layer}:top{self.top}"
        return f"{self.layer}:" + ",".join(str(n) for n in self.neurons)


@dataclass(frozen=True, order=True)
class SublayerId:
    layer: int
    kind: str  # "attn" or "ffn"

    def __str__(self) -> str:
        return f"{self.layer}.{self.kind}"


def all_heads(config: ModelConfig) -> list[HeadId]:
    return [HeadId(layer, head) for layer in range(config.n_layers) for head in range(config.n_heads)]


def _items(text: str, what: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise LabError(f"no {what} given")
    return items


def _layer(text: str, config: ModelConfig, item: str) -> int:
    layer = int(text)
    if not 0 <= layer < config.n_layers:
        raise LabError(f"{item!r}: there is no layer {layer}; this model has layers 0–{config.n_layers - 1}")
    return layer


def parse_heads(text: str, config: ModelConfig) -> tuple[HeadId, ...]:
    """``"0.1,1.3"`` → (HeadId(0, 1), HeadId(1, 3)), each checked against the model; ``"all"``: every head."""
    if text.strip().lower() == "all":
        return tuple(all_heads(config))
    heads: list[HeadId] = []
    for item in _items(text, "heads"):
        match = re.fullmatch(r"(\d+)\.(\d+)", item)
        if match is None:
            raise LabError(f"{item!r} is not a head: write layer.head, e.g. 0.1 (both counted from 0)")
        layer, head = _layer(match[1], config, item), int(match[2])
        if not 0 <= head < config.n_heads:
            raise LabError(f"{item!r}: there is no head {head}; each layer has heads 0–{config.n_heads - 1}")
        heads.append(HeadId(layer, head))
    return tuple(dict.fromkeys(heads))


def parse_neurons(text: str, config: ModelConfig) -> tuple[NeuronChoice, ...]:
    """``"1:7"``, ``"1:10-20"``, ``"0:top8"``, comma-separated: a neuron, a range (inclusive), the most active."""
    choices: list[NeuronChoice] = []
    for item in _items(text, "neurons"):
        match = re.fullmatch(r"(\d+):(?:(\d+)(?:-(\d+))?|top(\d+))", item)
        if match is None:
            raise LabError(f"{item!r} is not a neuron choice: write layer:n, layer:a-b or layer:topk (e.g. 1:7, "
                           "1:10-20, 1:top8)")
        layer = _layer(match[1], config, item)
        if match[4] is not None:
            top = int(match[4])
            if not 1 <= top <= config.d_ff:
                raise LabError(f"{item!r}: top-k needs 1 ≤ k ≤ {config.d_ff} (the layer's neurons)")
            choices.append(NeuronChoice(layer, top=top))
            continue
        lo = int(match[2])
        hi = lo if match[3] is None else int(match[3])
        if not 0 <= lo <= hi < config.d_ff:
            raise LabError(f"{item!r}: neurons go from 0 to {config.d_ff - 1} (and a range from low to high)")
        choices.append(NeuronChoice(layer, tuple(range(lo, hi + 1))))
    return tuple(choices)


def parse_sublayers(text: str, config: ModelConfig) -> tuple[SublayerId, ...]:
    """``"0.attn,1.ffn"`` → the whole attention sublayer of block 0 and the feed-forward of block 1."""
    out: list[SublayerId] = []
    for item in _items(text, "sublayers"):
        match = re.fullmatch(r"(\d+)\.(attn|ffn)", item)
        if match is None:
            raise LabError(f"{item!r} is not a sublayer: write layer.attn or layer.ffn, e.g. 0.attn")
        out.append(SublayerId(_layer(match[1], config, item), match[2]))
    return tuple(dict.fromkeys(out))
