"""The Dataset pane's samples table: a split shown a page at a time."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable


class SampleTable(DataTable[str]):
    """The samples of a split, a page at a time: the cursor keys, pgup/pgdn, home/end move in the page;
    n / p show the next / previous page (a split can hold a million examples)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "page(1)", "Next page", tooltip="Samples table: the next page of examples"),
        Binding("p", "page(-1)", "Prev page", tooltip="Samples table: the previous page of examples"),
    ]

    class Paged(Message):
        def __init__(self, delta: int) -> None:
            super().__init__()
            self.delta = delta

    def action_page(self, delta: int) -> None:
        self.post_message(self.Paged(delta))
