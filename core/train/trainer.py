"""One training step, and the loop state around it (step count, learning rate, clipping).

    train_step(batch):  forward → loss → backward → clip ‖g‖ → optimizer update
returns the step's metrics. The learning rate at step t is ``schedule(t) · lr_scale``; changing
``lr_scale`` (or swapping the schedule) mid-run is how a learning-rate edit takes effect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.data.batching import Batch
from core.nn.models.factory import Model
from core.optim.base import Optimizer
from core.optim.clipping import clip_grad_norm
from core.optim.schedules import Schedule
from core.train.objective import forward_loss


@dataclass(frozen=True)
class StepMetrics:
    step: int  # 1-based index of the step just taken
    loss: float
    accuracy: float
    grad_norm: float
    lr: float
    n_examples: int
    n_tokens: int

    @property
    def finite(self) -> bool:
        return math.isfinite(self.loss) and math.isfinite(self.grad_norm)


class Trainer:
    def __init__(
        self,
        model: Model,
        optimizer: Optimizer,
        schedule: Schedule,
        clip_norm: float = 1.0,
        label_smoothing: float = 0.0,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.schedule = schedule
        self.clip_norm = clip_norm
        self.label_smoothing = label_smoothing
        self.lr_scale = 1.0

    @property
    def step(self) -> int:
        return self.optimizer.step_count

    def current_lr(self) -> float:
        return self.schedule(self.step) * self.lr_scale

    def train_step(self, batch: Batch) -> StepMetrics:
        """Take one optimizer step on ``batch``. A non-finite loss or gradient skips the update
        (weights stay as they were) and is reported through ``StepMetrics.finite``."""
        model = self.model
        model.train()
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is detected below, not warned about
            result = forward_loss(model, batch, self.label_smoothing)
            model.backward(result.dlogits)
            grad_norm = clip_grad_norm(model.params.grad, self.clip_norm)
        lr = self.current_lr()
        metrics = StepMetrics(
            step=self.step + 1,
            loss=result.loss,
            accuracy=float(np.mean(result.correct)),
            grad_norm=grad_norm,
            lr=lr,
            n_examples=int(batch.tokens.shape[0]),
            n_tokens=batch.n_tokens,
        )
        if metrics.finite:
            self.optimizer.lr = lr
            self.optimizer.step()
        return metrics
