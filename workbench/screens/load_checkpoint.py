"""Pick a checkpoint to load from ``core.train.checkpoint.list_checkpoints()`` (read in a thread: each one is
verified, which reads its weights)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Static

from core.train.checkpoint import CheckpointInfo, default_models_dir, list_checkpoints
from workbench.model_source import short_reason
from workbench.styles import SCREENS_CSS


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


class LoadCheckpointScreen(ModalScreen[str | None]):
    """Returns the name of the checkpoint to load, or None when cancelled."""

    CSS_PATH = SCREENS_CSS
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, warning: str = "") -> None:
        super().__init__()
        self.warning = warning
        self.infos: list[CheckpointInfo] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="load-dialog", classes="dialog"):
            yield Static(f"Load a checkpoint: yours ({default_models_dir()}) or a shipped one", classes="dialog-title")
            yield DataTable(id="checkpoints", cursor_type="row", zebra_stripes=True)
            yield Static(self.warning, id="load-warning", classes="warning")
            yield Static("Reading checkpoints…", id="load-status")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Load", id="load-ok", variant="primary", disabled=True)
                yield Button("Cancel", id="load-cancel")
            yield Static("↑↓ choose · enter loads · escape cancels", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#load-warning").display = bool(self.warning)
        self.query_one(DataTable).add_columns("name", "model", "step", "test acc", "task", "saved", "")
        self._read()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _read(self) -> None:
        """List the checkpoints in a thread. A broken one is listed with its reason (``list_checkpoints``
        never raises for one); should the listing itself fail, the dialog says why instead of staying on
        "Reading checkpoints…"."""
        try:
            infos = list_checkpoints()
        except Exception as exc:
            self._post(self._failed, f"{type(exc).__name__}: {exc}")
            return
        self._post(self._show, infos)

    def _post(self, callback: Callable[..., None], *args: object) -> None:
        with contextlib.suppress(RuntimeError):  # the app is closing: nobody to show it to
            self.app.call_from_thread(callback, *args)

    def _failed(self, reason: str) -> None:
        status = self.query_one("#load-status", Static)
        status.update(f"✗ cannot read the models folder: {reason.splitlines()[0] if reason else 'unknown error'}")
        status.set_classes("error")

    def _show(self, infos: list[CheckpointInfo]) -> None:
        self.infos = infos
        table = self.query_one(DataTable)
        for info in infos:
            if info.error:
                table.add_row(info.name, "—", "", "", shorten(f"unreadable: {short_reason(info)}", 80), "", "",
                              key=info.name)
                continue
            acc = info.metrics.get("test_accuracy")
            table.add_row(info.name, info.kind, f"{info.step:,}", f"{acc:.2%}" if isinstance(acc, int | float) else "–",
                          info.task, info.saved_at[5:16].replace("T", " "), "shipped" if info.shipped else "",
                          key=info.name)
        status = self.query_one("#load-status", Static)
        if infos:
            status.update(f"{len(infos)} checkpoint{'s' if len(infos) != 1 else ''}")
            self.query_one("#load-ok", Button).disabled = False
            table.focus()
        else:
            status.update("No checkpoints yet: save one with ctrl+s.")

    def _chosen(self) -> str | None:
        table = self.query_one(DataTable)
        if not self.infos or table.cursor_row < 0:
            return None
        info = self.infos[table.cursor_row]
        if info.error:
            status = self.query_one("#load-status", Static)
            status.update(f"✗ {info.name} cannot be loaded: {info.error}")
            status.set_classes("error")
            return None
        return info.name

    @on(DataTable.RowSelected)
    @on(Button.Pressed, "#load-ok")
    def _load(self) -> None:
        name = self._chosen()
        if name:
            self.dismiss(name)

    @on(Button.Pressed, "#load-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
