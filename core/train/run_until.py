"""Run-until conditions: a run pauses by itself once one of them is met.

``RunUntil`` is the condition as plain data; ``UntilWatch`` follows the metrics step by step and says
which condition fired (or none). A condition counts only from the step it was set: a validation accuracy
measured before it was set does not end the run at once.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass

from core.errors import ConfigError

#: steps in the rolling mean of the training loss the ``loss`` condition compares against
LOSS_WINDOW = 20
#: gradient norms in the median the ``grad_spike`` condition compares against
GRAD_WINDOW = 100


@dataclass(frozen=True)
class RunUntil:
    """Conditions that pause the run by themselves once met (any one of them)."""

    val_accuracy: float | None = None  # pause when validation accuracy ≥ this
    loss: float | None = None  # pause when the mean training loss of the last 20 steps ≤ this
    step: int | None = None  # pause when this many steps have been taken in total
    grad_spike: float | None = None  # pause when a gradient norm exceeds this × the median of the last 100

    def __post_init__(self) -> None:
        for name in ("val_accuracy", "loss", "grad_spike"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)
                                  or v < 0):
                raise ConfigError(f"run-until {name} must be a non-negative number, got {v!r}")
        if self.step is not None and (isinstance(self.step, bool) or not isinstance(self.step, int)
                                      or self.step < 0):
            raise ConfigError(f"run-until step must be a non-negative integer, got {self.step!r}")

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.val_accuracy, self.loss, self.step, self.grad_spike))


@dataclass(frozen=True)
class UntilMet:
    condition: str  # the RunUntil field that fired
    reason: str  # in words, with the numbers


class UntilWatch:
    """Rolling windows of the training loss and gradient norm, and the condition being watched."""

    def __init__(self) -> None:
        self.until = RunUntil()
        self.since_step = 0  # the step at which the condition was set
        self.recent_loss: deque[float] = deque(maxlen=LOSS_WINDOW)
        self.recent_grad: deque[float] = deque(maxlen=GRAD_WINDOW)

    def set(self, until: RunUntil, step: int) -> None:
        self.until, self.since_step = until, step

    def clear(self) -> None:
        self.until = RunUntil()

    def check(self, step: int, loss: float, grad_norm: float, val_accuracy: float | None,
              val_step: int) -> UntilMet | None:
        """Record one step's numbers and say whether a condition is met. ``val_accuracy`` is the last
        validation accuracy, measured at ``val_step``."""
        u = self.until
        self.recent_loss.append(loss)
        grads = self.recent_grad
        met: UntilMet | None = None
        if u.grad_spike is not None and len(grads) >= 10:
            median = statistics.median(grads)
            if grad_norm > u.grad_spike * median:
                met = UntilMet("grad_spike", f"gradient norm {grad_norm:.3g} spiked above {u.grad_spike:g}× "
                                             f"the recent median {median:.3g}")
        grads.append(grad_norm)
        if met is not None:
            return met
        if u.step is not None and step >= u.step:
            return UntilMet("step", f"reached step {u.step:,}")
        if u.loss is not None and len(self.recent_loss) == LOSS_WINDOW:
            mean = sum(self.recent_loss) / LOSS_WINDOW
            if mean <= u.loss:
                return UntilMet("loss", f"training loss (mean of the last {LOSS_WINDOW} steps) {mean:.4g} ≤ {u.loss:g}")
        if u.val_accuracy is not None and val_accuracy is not None and val_step > self.since_step \
                and val_accuracy >= u.val_accuracy:
            return UntilMet("val_accuracy", f"validation accuracy {val_accuracy:.2%} ≥ {u.val_accuracy:.2%}")
        return None
