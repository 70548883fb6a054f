"""Typed messages a training session sends to its reader (the workbench, the CLI, a script).

The worker thread only ever *puts* these on a queue; it never waits for the reader.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class StepEvent:
    step: int
    epoch: int  # 0-based epoch the step belonged to
    loss: float
    accuracy: float
    lr: float
    grad_norm: float
    tokens_per_s: float
    examples_per_s: float


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
    """``state`` is one of idle, running, paused, finished, stopped; ``reason`` says why it changed."""

    state: str
    step: int
    reason: str = ""


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


Event = StepEvent | EvalEvent | StateEvent | EditEvent | CheckpointEvent | DivergenceEvent | ErrorEvent
