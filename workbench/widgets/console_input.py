"""The console's input line: ↑/↓ recall earlier entries, and a pasted multi-line text keeps all its lines."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.widgets import Input

MAX_HISTORY = 200


class ConsoleInput(Input):
    """An ``Input`` with a history: ``remember(text)`` after a submission; ↑ recalls older entries, ↓
    newer ones and finally the draft that was being typed. A paste of several lines is joined with
    ``; `` (blank lines dropped) so each line is answered."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "history(-1)", "Older", tooltip="Recall the previous expression"),
        Binding("down", "history(1)", "Newer", tooltip="Recall the next expression"),
    ]

    def __init__(self, *args: Any, max_history: int = MAX_HISTORY, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.history: list[str] = []
        self.max_history = max_history
        self._index = 0
        self._draft = ""

    def remember(self, text: str) -> None:
        """Add ``text`` to the history (not twice in a row) and point the recall after it."""
        text = text.strip()
        if text and (not self.history or self.history[-1] != text):
            self.history.append(text)
            del self.history[:-self.max_history]
        self._index = len(self.history)
        self._draft = ""

    def action_history(self, delta: int) -> None:
        if not self.history:
            return
        if self._index == len(self.history):
            self._draft = self.value
        self._index = min(max(self._index + delta, 0), len(self.history))
        self.value = self._draft if self._index == len(self.history) else self.history[self._index]
        self.cursor_position = len(self.value)

    def _on_paste(self, event: events.Paste) -> None:
        if event.text:
            line = "; ".join(p for p in (s.strip() for s in event.text.splitlines()) if p)
            if self.selection.is_empty:
                self.insert_text_at_cursor(line)
            else:
                self.replace(line, *self.selection)
        event.prevent_default()
        event.stop()
