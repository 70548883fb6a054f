"""A checkbox whose state shows in its glyph, not only in its colour.

Textual's ``Checkbox`` draws the same ``X`` checked or not and tells the two apart by colour alone:
in a 256-colour terminal, over SSH, or for a colour-blind learner, the Dataset pane's seven operation
boxes all looked ticked while only five were. ``TickBox`` draws ``✓`` when on and a blank when off,
keeping the colours as well.
"""

from __future__ import annotations

from textual.widgets import Checkbox

ON = "✓"
OFF = " "


class TickBox(Checkbox):
    """A ``Checkbox`` showing ``✓`` when checked and a blank when not."""

    @property
    def BUTTON_INNER(self) -> str:  # type: ignore[override]  # noqa: N802 — the name ToggleButton reads
        return ON if self.value else OFF
