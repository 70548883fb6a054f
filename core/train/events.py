"""Typed messages a training session sends to its reader (the workbench, the CLI, a script).

The worker thread only ever *puts* these on a queue; it never waits for the reader. States and the
causes of state changes are closed sets (``SessionState``, ``Cause``), so a reader decides what
happened by comparing values, never by matching English text; ``reason`` is only for people.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

#: idle: built, nothing run yet · running · paused · finished: every epoch done · stopped: the worker exited
SessionState = Literal["idle", "running", "paused", "finished", "stopped"]


class Cause(StrEnum):
    """Why the session's state changed."""

    OPENED = "opened"  # the worker started
    STARTED = "started"  # run / step / epoch command
    REQUEST = "request"  # paused on request
    BUDGET = "budget"  # the steps asked for (F7, F8) are done
    UNTIL = "until"  # a run-until condition was met (an ``UntilMetEvent`` says which)
    DIVERGED = "diverged"  # a non-finite loss or gradient (a ``DivergenceEvent`` says where)
    ERROR = "error"  # an exception in the worker (an ``ErrorEvent`` has the traceback)
    FINISHED = "finished"  # every epoch is done
    STOPPED = "stopped"  # stopped on request; the worker exits


@dataclass(frozen=True)
class StepEvent:
    step: int
    epoch: int  # 0-based epoch the step belonged to
    loss: float
    accuracy: float  # accuracy on this step's training batch
    lr: float
    grad_norm: float
    tokens_per_s: float
    examples_per_s: float
    time: float = 0.0  # time.monotonic() when the step ended: rates and pacing are measured from these


@dataclass(frozen=True)
class EvalEvent:
    step: int
    epoch: int
    split: str
    loss: float
    accuracy: float
    accuracy_by_op: dict[str, float] = field(default_factory=dict)
    accuracy_by_nargs: dict[int, float] = field(default_factory=dict)


@dataclass(frozen=True)
class StateEvent:
    """The session's state changed to ``state`` at ``step`` because of ``cause``; ``reason`` says it in words."""

    state: SessionState
    step: int
    reason: str = ""
    cause: Cause = Cause.REQUEST


@dataclass(frozen=True)
class UntilMetEvent:
    """A run-until condition was met and paused the run (the condition is cleared: it never carries on)."""

    step: int
    condition: str  # the ``RunUntil`` field that fired: val_accuracy, loss, step or grad_spike
    reason: str


@dataclass(frozen=True)
class EditEvent:
    step: int
    field: str
    value: float


@dataclass(frozen=True)
class CheckpointEvent:
    step: int
    name: str
    path: str


@dataclass(frozen=True)
class DivergenceEvent:
    step: int
    message: str


@dataclass(frozen=True)
class ErrorEvent:
    message: str
    traceback: str = ""


Event = (StepEvent | EvalEvent | StateEvent | UntilMetEvent | EditEvent | CheckpointEvent | DivergenceEvent
         | ErrorEvent)
