"""The messages of the workbench: how the session controller and its workers tell the UI what happened.

One idiom for worker → UI everywhere: a thread never touches a widget; it posts one of these messages
(``App.post_message`` is thread-safe) and the App's handlers pass what changed down to the panes as
attributes. The training worker itself only fills its event queue; the controller drains it a few times
a second on the UI thread and re-posts what it found as these messages.
"""

from __future__ import annotations

from typing import Any, Literal

from textual.message import Message

from core.data.dataset import Dataset
from core.train.events import Cause
from core.train.run import Run


class RunReady(Message):
    """A build or load worker has a run ready to train (posted from the worker thread)."""

    def __init__(self, run: Run, *, warnings: list[str], history: list[dict[str, Any]] | None,
                 then: str | None, checkpoint: str | None, new_dataset: bool, generation: int) -> None:
        super().__init__()
        self.run, self.warnings, self.history = run, warnings, history
        self.then, self.checkpoint, self.new_dataset, self.generation = then, checkpoint, new_dataset, generation


class RunFailed(Message):
    """Building or loading a run failed: ``message`` says why (the app lives on, the pane is not busy)."""

    def __init__(self, title: str, message: str, generation: int) -> None:
        super().__init__()
        self.title, self.message, self.generation = title, message, generation


class SessionUpdated(Message):
    """The controller's view of the run changed (state, numbers, a new session): redraw from it."""

    def __init__(self, state_changed: bool) -> None:
        super().__init__()
        self.state_changed = state_changed


class RunStateChanged(Message):
    """The run's state changed; ``cause`` is a ``core.train.events.Cause`` (None for no run/building)."""

    def __init__(self, state: str, reason: str, cause: Cause | None) -> None:
        super().__init__()
        self.state, self.reason, self.cause = state, reason, cause


class UntilMet(Message):
    """A run-until condition paused the run (and was cleared)."""

    def __init__(self, step: int, condition: str, reason: str) -> None:
        super().__init__()
        self.step, self.condition, self.reason = step, condition, reason


class DatasetAdopted(Message):
    """A run generated its dataset, or a checkpoint brought one: the Dataset pane should show it."""

    def __init__(self, dataset: Dataset, source: str) -> None:
        super().__init__()
        self.dataset, self.source = dataset, source


Severity = Literal["information", "warning", "error"]


class EditApplied(Message):
    """A mid-run edit took effect at ``step`` (the run's own record of it)."""

    def __init__(self, step: int, field: str, value: float) -> None:
        super().__init__()
        self.step, self.field, self.value = step, field, value


class Notice(Message):
    """Something the user should read: an edit applied, a checkpoint saved, an error."""

    def __init__(self, message: str, title: str = "", severity: Severity = "information", timeout: float = 4.0) -> None:
        super().__init__()
        self.message, self.title, self.severity, self.timeout = message, title, severity, timeout


class CheckpointSaved(Message):
    def __init__(self, name: str, step: int, path: str) -> None:
        super().__init__()
        self.name, self.step, self.path = name, step, path


class SaveFailed(Message):
    def __init__(self, name: str, message: str) -> None:
        super().__init__()
        self.name, self.message = name, message
