"""The key footer, without the memory leak of Textual's ``Footer`` (issue 9).

Textual 8's ``Footer`` recomposes itself on every ``bindings_updated`` signal — every focus change,
pane switch, settings toggle — and binds each new ``FooterKey`` to its own ``compact`` reactive with
``data_bind``. That binding is a watcher stored *on the Footer* holding the key, and Textual prunes a
reactive's watcher list only when that reactive changes; the footer's ``compact`` never does, so every
key ever shown stays alive (its styles, caches and message queue: ~20 KB each). Measured with
``python -m benchmarks.app_memory``: ~30 dead keys and ~0.6 MB per settings toggle, ~37 keys and
~0.75 MB of Python heap per pane switch, for as long as the app runs.

``WorkbenchFooter`` shows exactly what ``Footer`` shows (it reuses its ``compose``) and fixes both
halves: it rebuilds its keys only when what they would show has changed (most focus changes leave the
keys as they were, and a rebuild is also a layout pass), and its keys carry ``compact`` as a plain value
the footer updates in place, so nothing outside the DOM refers to a removed key. Panes with keys of
their own (Inspector, the inference console) still rebuild the keys on a switch; what stays of those
is bounded (Textual's ``StylesCache.get_inner_outer`` lru_cache of 1,024 entries keeps a few styles
caches of removed widgets).

It also never shows part of a key: Textual's compact footer gives the command-palette key (docked
right) a right margin, and in that last column the key behind it showed through (the stray ``t`` after
"^p palette" in the Inspector at 80 columns); and a key half hidden behind the palette key read as a
cut word. Here the palette key reaches the right edge, and keys that do not fit beside it are hidden
until the footer is wide enough for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

if TYPE_CHECKING:
    from textual.screen import Screen

#: Everything a footer key is built from: a change in any of these needs a rebuild.
KeySignature = tuple[tuple[object, ...], ...]


class WorkbenchFooter(Footer):
    """``Footer`` that rebuilds its keys only when they change, and leaves no key behind."""

    DEFAULT_CSS = """
    WorkbenchFooter.-compact FooterKey.-command-palette {
        margin-right: 0;
        padding-right: 1;
    }
    """

    def __init__(self, *, compact: bool = False, show_command_palette: bool = True) -> None:
        super().__init__(compact=compact, show_command_palette=show_command_palette)
        self._shown: KeySignature | None = None  # what the current keys were built from
        self._widths: dict[int, int] = {}  # id(key) → columns it takes, margin included (measured once)

    def key_signature(self) -> KeySignature:
        """What ``Footer.compose`` reads from the screen's active bindings, as comparable values."""
        app = self.app
        active = self.screen.active_bindings
        keys: list[tuple[object, ...]] = [
            (binding.key, app.get_key_display(binding), binding.description, binding.action, enabled,
             tooltip, binding.tooltip, binding.group)
            for (_, binding, enabled, tooltip) in active.values() if binding.show
        ]
        palette = active.get(app.COMMAND_PALETTE_BINDING) if self.show_command_palette else None
        if palette is not None and app.ENABLE_COMMAND_PALETTE:
            _, binding, enabled, _ = palette
            keys.append(("palette", binding.key, app.get_key_display(binding), binding.description, enabled,
                         binding.tooltip))
        return tuple(keys)

    def compose(self) -> ComposeResult:
        # Textual's keys, minus their data binding to ``self.compact`` (the leak): they get the value now
        # and ``watch_compact`` keeps them in step.
        self._shown = self.key_signature() if self._bindings_ready else None
        for widget in super().compose():
            if isinstance(widget, FooterKey):
                widget._reactive_connect = None  # the pending data_bind then does nothing
                widget.set_reactive(FooterKey.compact, self.compact)
                widget.set_class(self.compact, "-compact", update=False)
            yield widget

    def watch_compact(self, compact: bool) -> None:
        """What the keys' data binding did, from this side: the footer reaches down to its keys."""
        for key in self.query(FooterKey):
            key.compact = compact

    def bindings_changed(self, screen: Screen) -> None:
        """As ``Footer.bindings_changed``, but a rebuild only if the keys would differ."""
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen:
            self.call_after_refresh(self._rebuild_if_changed)

    async def _rebuild_if_changed(self) -> None:
        if self.is_attached and self.key_signature() != self._shown:
            await self.recompose()
            self._widths.clear()
            self.call_after_refresh(self.fit_keys)

    def on_mount(self) -> None:
        self.call_after_refresh(self.fit_keys)

    def on_resize(self) -> None:
        self.call_after_refresh(self.fit_keys)

    def fit_keys(self) -> None:
        """Show the keys, in order, that fit whole beside the palette key; hide the rest."""
        if not self.is_attached:
            return
        children = list(self.children)
        palette = [w for w in children if w.has_class("-command-palette")]
        keys = [w for w in children if not w.has_class("-command-palette")]
        for key in keys:
            if id(key) not in self._widths:
                if not key.display:
                    key.display = True  # shown once to be measured
                    self.call_after_refresh(self.fit_keys)
                    return
                if key.outer_size.width == 0:
                    return  # not laid out yet
                margin = key.styles.margin
                self._widths[id(key)] = key.outer_size.width + margin.left + margin.right
        room = self.size.width - sum(w.outer_size.width for w in palette)
        used = 0
        for key in keys:
            width = self._widths[id(key)]
            fits = used + width - key.styles.margin.right <= room
            if key.display != fits:
                key.display = fits
            used += width if fits else 0
            if not fits:
                room = used  # keep the order: nothing after a key that did not fit
