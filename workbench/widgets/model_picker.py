"""A Select of the models a probing pane can look at: "live run", then every checkpoint in saved_models/.

Listing checkpoints reads and verifies each one, so it runs in a thread worker; until it is done the
picker offers the live run only. The owning pane keeps the chosen value itself (``choice``) and only
mirrors it here, so a value set in code (e.g. by ``OpenInConsole``) is never lost to a reload.
"""

from __future__ import annotations

import contextlib

from textual import work
from textual.widgets import Select

from core.train.checkpoint import CheckpointInfo, list_checkpoints
from workbench.model_source import CHECKPOINT_PREFIX, LIVE


def checkpoint_label(info: CheckpointInfo) -> str:
    if info.error:
        return f"{info.name} · unreadable"
    acc = info.metrics.get("test_accuracy")
    acc_text = f" · test {acc:.2%}" if isinstance(acc, int | float) else ""  # 99.95%, not a rounded 100.0%
    return f"{info.name} · {info.kind} · {info.task}{acc_text}"


class ModelPicker(Select[str]):
    """Posts ``Select.Changed`` when the user picks; ``show(choice)`` mirrors a choice made in code."""

    def __init__(self, root: str | None = None, id: str | None = None) -> None:
        super().__init__([("live run", LIVE)], value=LIVE, allow_blank=False, compact=True, id=id,
                         tooltip="Which model to probe: the live run (while paused) or a saved checkpoint")
        self.root = root
        self.infos: list[CheckpointInfo] = []
        self.loaded = False
        self._wanted = LIVE

    def on_mount(self) -> None:
        self.reload()

    @work(thread=True, exclusive=True, group="model-picker", exit_on_error=False)
    def reload(self) -> None:
        """Re-read the checkpoint list (in a thread)."""
        try:
            infos = list_checkpoints(self.root)
        except OSError:
            infos = []
        with contextlib.suppress(RuntimeError):  # the app is closing
            self.app.call_from_thread(self._set_infos, infos)

    def _set_infos(self, infos: list[CheckpointInfo]) -> None:
        self.infos = infos
        self.loaded = True
        self._apply()

    def options_for(self) -> list[tuple[str, str]]:
        options = [("live run", LIVE)]
        options += [(checkpoint_label(i), f"{CHECKPOINT_PREFIX}{i.name}") for i in self.infos]
        if self._wanted not in [v for _, v in options]:
            options.append((self._wanted.removeprefix(CHECKPOINT_PREFIX), self._wanted))
        return options

    def _apply(self) -> None:
        with self.prevent(Select.Changed):
            self.set_options(self.options_for())
            self.value = self._wanted

    def show(self, choice: str) -> None:
        """Display ``choice`` (added to the list if the checkpoint list does not have it yet)."""
        self._wanted = choice
        if self.is_mounted:
            self._apply()

    def kind_of(self, choice: str) -> str | None:
        """The model kind of a listed checkpoint, without loading it (None if unknown)."""
        for info in self.infos:
            if f"{CHECKPOINT_PREFIX}{info.name}" == choice and not info.error:
                return info.kind
        return None
