"""The attention map of one input: ``AttentionMap`` draws one layer and head as a shaded grid;
``AttentionView`` puts a layer and a head Select above it and keeps the three in step.

Attributes down, messages up: the owner sets ``data`` (an ``AttentionData``: the per-layer weights and
the tokens); the map posts ``AttentionMap.Changed`` when the shown layer or head changes (keys, the
Selects or ``select``). The drawing itself is ``workbench.render.attention``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from rich.text import Text
from textual import on
from textual.app import ComposeResult, RenderResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Label, Select

from workbench.render.attention import AttentionData, attention_height, attention_text
from workbench.render.attention import caption as caption_text


class AttentionMap(Widget, can_focus=True):
    """The attention one layer and head used for an input: a grid of shaded cells, one row per query
    position (the token doing the looking), one column per key (the token looked at), in percent.
    ←/→ change the head ("mean" = average of the heads), ↑/↓ the layer."""

    DEFAULT_CSS = """
    AttentionMap {
        height: auto;
        width: 1fr;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    AttentionMap:focus {
        background: $boost;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "head(-1)", "Head ←", tooltip="Previous attention head"),
        Binding("right", "head(1)", "Head →", tooltip="Next attention head"),
        Binding("up", "layer(-1)", "Layer ↑", tooltip="Previous layer"),
        Binding("down", "layer(1)", "Layer ↓", tooltip="Next layer"),
    ]

    #: What is drawn (None: a hint to answer something first). Set it to show another input.
    data: reactive[AttentionData | None] = reactive(None, layout=True)

    class Changed(Message):
        """The layer or head shown changed."""

        def __init__(self, attention_map: AttentionMap) -> None:
            super().__init__()
            self.attention_map = attention_map

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.layer_index = 0
        self.head_index = -1  # −1: mean over heads

    def watch_data(self, data: AttentionData | None) -> None:
        self.layer_index = min(self.layer_index, max(0, self.n_layers - 1))
        if self.head_index >= self.n_heads:
            self.head_index = -1

    @property
    def maps(self) -> list[np.ndarray]:
        return [] if self.data is None else self.data.maps

    @property
    def tokens(self) -> list[str]:
        return [] if self.data is None else self.data.tokens

    @property
    def n_layers(self) -> int:
        return 0 if self.data is None else self.data.n_layers

    @property
    def n_heads(self) -> int:
        return 0 if self.data is None else self.data.n_heads

    def select(self, layer: int | None = None, head: int | None = None) -> None:
        """Show ``layer`` (0-based) and ``head`` (0-based; −1 = the mean of the heads), clamped."""
        if layer is not None and self.maps:
            self.layer_index = min(max(int(layer), 0), self.n_layers - 1)
        if head is not None and self.maps:
            self.head_index = min(max(int(head), -1), self.n_heads - 1)
        self.refresh(layout=True)
        self.post_message(self.Changed(self))

    def action_head(self, delta: int) -> None:
        if self.maps:
            self.select(head=(self.head_index + 1 + delta) % (self.n_heads + 1) - 1)

    def action_layer(self, delta: int) -> None:
        if self.maps:
            self.select(layer=(self.layer_index + delta) % self.n_layers)

    def matrix(self) -> np.ndarray:
        """The (T, T) weights shown now."""
        return np.zeros((0, 0)) if self.data is None else self.data.matrix(self.layer_index, self.head_index)

    def caption(self) -> str:
        if not self.maps:
            return ""
        return caption_text(self.layer_index, self.n_layers, self.head_index, self.n_heads)

    def build(self) -> Text:
        return attention_text(self.data, self.layer_index, self.head_index, self.size.width or 80)

    def render(self) -> RenderResult:
        return self.build()

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        return attention_height(self.data, width or 80, self.layer_index, self.head_index)


class AttentionView(Widget):
    """A layer Select and a head Select over an ``AttentionMap``, kept in step both ways. The ids of the
    parts are ``{prefix}-layer``, ``{prefix}-head`` and ``{prefix}-attention``; the row of Selects gets
    the class ``{prefix}-row``, its labels ``{prefix}-label``."""

    DEFAULT_CSS = """
    AttentionView {
        height: auto;
        layout: vertical;
    }
    """

    data: reactive[AttentionData | None] = reactive(None)

    def __init__(self, prefix: str, id: str | None = None) -> None:
        super().__init__(id=id)
        self.prefix = prefix

    def compose(self) -> ComposeResult:
        p = self.prefix
        with Horizontal(classes=f"{p}-row"):
            yield Label("layer ", classes=f"{p}-label")
            yield Select([("0", 0)], value=0, allow_blank=False, compact=True, id=f"{p}-layer")
            yield Label(" head ", classes=f"{p}-label")
            yield Select([("mean", -1)], value=-1, allow_blank=False, compact=True, id=f"{p}-head")
        yield AttentionMap(id=f"{p}-attention")

    @property
    def map(self) -> AttentionMap:
        return self.query_one(AttentionMap)

    def _selects(self) -> tuple[Select[int], Select[int]]:
        return (self.query_one(f"#{self.prefix}-layer", Select), self.query_one(f"#{self.prefix}-head", Select))

    def watch_data(self, data: AttentionData | None) -> None:
        if not self.is_mounted:
            return
        n_layers = 0 if data is None else data.n_layers
        n_heads = 0 if data is None else data.n_heads
        amap = self.map
        layer_select, head_select = self._selects()
        with self.prevent(Select.Changed):
            # The labels "layer" / "head" stand before the selects; the options are just the indices,
            # from 0 as in the parameter names (blocks.0.attn) — not "layer layer 1".
            layer_select.set_options([(str(i), i) for i in range(max(1, n_layers))])
            head_select.set_options([("mean", -1)] + [(str(h), h) for h in range(n_heads)])
            layer_select.value = min(amap.layer_index, max(0, n_layers - 1))
            head_select.value = amap.head_index if amap.head_index < n_heads else -1
        amap.data = data

    def on_mount(self) -> None:
        if self.data is not None:
            self.watch_data(self.data)

    def select(self, layer: int | None = None, head: int | None = None) -> None:
        """Show ``layer`` (0-based) and ``head`` (0-based; −1 = mean of the heads)."""
        self.map.select(layer, head)

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if not isinstance(event.value, int):
            return
        if event.select.id == f"{self.prefix}-layer":
            self.map.select(layer=event.value)
        elif event.select.id == f"{self.prefix}-head":
            self.map.select(head=event.value)

    @on(AttentionMap.Changed)
    def _map_changed(self, event: AttentionMap.Changed) -> None:
        amap = event.attention_map
        layer_select, head_select = self._selects()
        with self.prevent(Select.Changed):
            if layer_select.value != amap.layer_index:
                layer_select.value = amap.layer_index
            if head_select.value != amap.head_index:
                head_select.value = amap.head_index
