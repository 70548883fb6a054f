"""The model chooser of the probing panes: a Select of "live run", then every checkpoint in saved_models/.

Shared by the Inference and Inspector panes. Attributes down, messages up: the pane sets ``choice``
(``"live"`` or ``"ck:NAME"``; a value set in code, e.g. by ``OpenInConsole``, is shown even before the
checkpoint list has it and is never lost to a reload), and the chooser posts ``ModelChooser.Chosen``
when the *user* picks another model. Listing checkpoints reads and verifies each one, so it runs in a
thread worker; until it is done the chooser offers the live run (and the current choice) only.
"""

from __future__ import annotations

import contextlib

from textual import on, work
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Select

from core.train.checkpoint import CheckpointInfo, list_checkpoints
from workbench.model_source import CHECKPOINT_PREFIX, LIVE, choice_options


class ModelChooser(Select[str]):
    """Which model a pane probes: the live run or a saved checkpoint."""

    #: The value shown (set it from code; the user's picks arrive as ``Chosen``).
    choice: reactive[str] = reactive(LIVE, init=False)

    class Chosen(Message):
        """The user picked ``choice`` ("live" or "ck:NAME")."""

        def __init__(self, chooser: ModelChooser, choice: str) -> None:
            super().__init__()
            self.chooser = chooser
            self.choice = choice

        @property
        def control(self) -> ModelChooser:
            return self.chooser

    def __init__(self, root: str | None = None, choice: str = LIVE, id: str | None = None) -> None:
        super().__init__([("live run", LIVE)], value=LIVE, allow_blank=False, compact=True, id=id,
                         tooltip="Which model to probe: the live run (while paused) or a saved checkpoint")
        self.root = root
        self.infos: list[CheckpointInfo] = []
        self.loaded = False
        self.set_reactive(ModelChooser.choice, choice)

    def on_mount(self) -> None:
        if self.choice != LIVE:
            self._apply()
        self.reload()

    @work(thread=True, exclusive=True, group="model-picker", exit_on_error=False)
    def reload(self) -> None:
        """Re-read the checkpoint list (in a thread)."""
        try:
            infos = list_checkpoints(self.root)  # a broken checkpoint is listed with its reason, not raised
        except Exception as exc:  # the listing itself failed: offer the live run, and say why
            infos = []
            with contextlib.suppress(RuntimeError):
                self.app.call_from_thread(self.app.notify, f"cannot list the saved models: {type(exc).__name__}: "
                                          f"{exc}", severity="error")
        with contextlib.suppress(RuntimeError):  # the app is closing
            self.app.call_from_thread(self._set_infos, infos)

    def _set_infos(self, infos: list[CheckpointInfo]) -> None:
        self.infos = infos
        self.loaded = True
        self._apply()

    def options_for(self) -> list[tuple[str, str]]:
        return choice_options(self.infos, self.choice)

    def _apply(self) -> None:
        with self.prevent(Select.Changed):
            self.set_options(self.options_for())
            self.value = self.choice

    def watch_choice(self) -> None:
        if self.is_mounted:
            self._apply()

    @on(Select.Changed)
    def _user_changed(self, event: Select.Changed) -> None:
        if event.select is not self:
            return
        event.stop()
        value = event.value
        if isinstance(value, str) and value != self.choice:
            self.choice = value
            self.post_message(self.Chosen(self, value))

    def kind_of(self, choice: str) -> str | None:
        """The model kind of a listed checkpoint, without loading it (None if unknown)."""
        for info in self.infos:
            if f"{CHECKPOINT_PREFIX}{info.name}" == choice and not info.error:
                return info.kind
        return None
