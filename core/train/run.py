"""A training run: everything needed to train one model on one task, built from one ``RunConfig``.

The run owns the dataset and its encoded splits, the model, the optimizer and the position in the data
(epoch, batch). Batch order is a function of (seed, epoch) only — ``default_rng([seed, epoch])`` — so
the position alone is enough to resume exactly where a run stopped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np

from core.data.batching import Batch, EncodedSplit, encode_examples, make_batch
from core.data.dataset import Dataset, DatasetConfig, generate_dataset
from core.data.vocab import VOCAB
from core.errors import ConfigError
from core.nn.config import ModelConfig
from core.nn.models import build_model
from core.nn.models.factory import Model
from core.optim import build_optimizer, build_schedule
from core.optim.config import OptimizerConfig
from core.train.evaluation import EvalResult, evaluate
from core.train.trainer import StepMetrics, Trainer

#: settings that can change mid-run, with their allowed ranges (lo exclusive for lr)
EDITABLE_OPTIONS: dict[str, tuple[float, float]] = {
    "lr": (0.0, 10.0),
    "weight_decay": (0.0, 1.0),
    "clip_norm": (0.0, 1e6),
    "momentum": (0.0, 0.999),
    "beta1": (0.0, 0.9999),
    "beta2": (0.0, 0.99999),
}


def check_option(name: str, value: Any) -> float:
    """Validate a mid-run edit; returns the value as float or raises ConfigError saying what is wrong."""
    if name not in EDITABLE_OPTIONS:
        raise ConfigError(f"cannot change {name!r} mid-run (editable: {', '.join(EDITABLE_OPTIONS)})")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    lo, hi = EDITABLE_OPTIONS[name]
    ok = (lo < value <= hi) if name == "lr" else (lo <= value <= hi)
    if not ok:
        raise ConfigError(f"{name} must be in {'(' if name == 'lr' else '['}{lo:g}, {hi:g}], got {value:g}")
    return float(value)


@dataclass(frozen=True)
class RunConfig:
    """Task data, model, optimizer, seed and length of a run: the whole recipe, as plain data."""

    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    seed: int = 0
    epochs: int = 20
    eval_every: int = 0  # steps between evaluations; 0 = once per epoch

    def __post_init__(self) -> None:
        task = self.dataset.task
        if self.model.vocab_size != len(VOCAB):
            raise ConfigError(f"model vocab_size {self.model.vocab_size} does not match the vocabulary ({len(VOCAB)})")
        if self.model.kind == "encoder" and self.model.num_classes != task.num_classes:
            raise ConfigError(f"model num_classes {self.model.num_classes} does not match the task's "
                              f"{task.num_classes} possible answers")
        longest = task.max_expression_tokens + (task.max_answer_tokens + 1 if self.model.kind == "decoder" else 0)
        if longest > self.model.max_len:
            raise ConfigError(f"the task's longest sequence ({longest} tokens) exceeds the model's max_len "
                              f"({self.model.max_len})")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed!r}")
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or not 1 <= self.epochs <= 100_000:
            raise ConfigError(f"epochs must be an integer between 1 and 100000, got {self.epochs!r}")
        if isinstance(self.eval_every, bool) or not isinstance(self.eval_every, int) or self.eval_every < 0:
            raise ConfigError(f"eval_every must be a non-negative integer, got {self.eval_every!r}")

    @classmethod
    def create(cls, dataset: DatasetConfig | None = None, kind: str = "encoder", seed: int = 0, epochs: int = 20,
               eval_every: int = 0, optimizer: OptimizerConfig | None = None, **model_kwargs: Any) -> Self:
        """A config whose model matches the task (vocabulary size, classes, length)."""
        dataset = dataset or DatasetConfig()
        task = dataset.task
        need = task.max_expression_tokens + (task.max_answer_tokens + 1 if kind == "decoder" else 0)
        model_kwargs.setdefault("max_len", max(32, need))
        model = ModelConfig(kind=kind, vocab_size=len(VOCAB), num_classes=task.num_classes, **model_kwargs)
        return cls(dataset, model, optimizer or OptimizerConfig(), seed, epochs, eval_every)

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset.to_dict(), "model": self.model.to_dict(),
                "optimizer": self.optimizer.to_dict(), "seed": self.seed, "epochs": self.epochs,
                "eval_every": self.eval_every}

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        if not isinstance(data, dict):
            raise ConfigError("run config must be a JSON object")
        unknown = set(data) - {"dataset", "model", "optimizer", "seed", "epochs", "eval_every"}
        if unknown:
            raise ConfigError(f"run config has unknown keys: {', '.join(sorted(unknown))}")
        for key in ("dataset", "model", "optimizer"):
            if key not in data:
                raise ConfigError(f"run config is missing {key!r}")
        return cls(DatasetConfig.from_dict(data["dataset"]), ModelConfig.from_dict(data["model"]),
                   OptimizerConfig.from_dict(data["optimizer"]), data.get("seed", 0), data.get("epochs", 20),
                   data.get("eval_every", 0))


class Run:
    """Live training state. Not thread-safe by itself: ``TrainingSession`` serialises access."""

    def __init__(self, config: RunConfig, dataset: Dataset | None = None) -> None:
        self.config = config
        self.dataset = dataset if dataset is not None else generate_dataset(config.dataset)
        kind, task = config.model.kind, config.dataset.task
        self.train_split: EncodedSplit = encode_examples(self.dataset.train, task, kind)
        self.val_split: EncodedSplit | None = (encode_examples(self.dataset.val, task, kind)
                                               if self.dataset.val else None)
        self.test_split: EncodedSplit | None = (encode_examples(self.dataset.test, task, kind)
                                                if self.dataset.test else None)
        self.model: Model = build_model(config.model, seed=config.seed)
        opt = config.optimizer
        self.trainer = Trainer(self.model, build_optimizer(opt, self.model.params), build_schedule(opt),
                               opt.clip_norm, opt.label_smoothing)
        self.batch_size = opt.batch_size
        self.epoch = 0  # 0-based epoch being trained
        self.batch_index = 0  # next batch within the epoch
        self._order: np.ndarray | None = None
        self.edits: list[dict[str, Any]] = []  # hyperparameter edits with the step they took effect at

    # -- data position ----------------------------------------------------------------------------
    @property
    def steps_per_epoch(self) -> int:
        return max(1, math.ceil(len(self.train_split) / self.batch_size))

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.config.epochs

    @property
    def step(self) -> int:
        return self.trainer.step

    @property
    def finished(self) -> bool:
        return self.epoch >= self.config.epochs

    def _epoch_order(self) -> np.ndarray:
        if self._order is None:
            self._order = np.random.default_rng([self.config.seed, self.epoch]).permutation(len(self.train_split))
        return self._order

    def next_batch(self) -> Batch:
        order = self._epoch_order()
        start = self.batch_index * self.batch_size
        batch = make_batch(self.train_split, order[start : start + self.batch_size])
        self.batch_index += 1
        if self.batch_index >= self.steps_per_epoch:
            self.epoch += 1
            self.batch_index = 0
            self._order = None
        return batch

    def train_step(self) -> StepMetrics:
        return self.trainer.train_step(self.next_batch())

    # -- hyperparameters --------------------------------------------------------------------------
    def set_learning_rate(self, lr: float) -> None:
        """From the next step on, train with base learning rate ``lr``: the schedule keeps its shape
        (warm-up, decay) and is rescaled so its base rate is ``lr``. Recorded with the step."""
        lr = check_option("lr", lr)
        self.trainer.lr_scale = lr / self.trainer.schedule.base_lr
        self.edits.append({"step": self.step, "field": "lr", "value": lr})

    def set_optimizer_option(self, name: str, value: float) -> None:
        """Edit weight_decay, clip_norm, momentum, beta1 or beta2 mid-run (recorded with the step)."""
        value = check_option(name, value)
        opt = self.trainer.optimizer
        if name == "clip_norm":
            self.trainer.clip_norm = value
        elif hasattr(opt, name):
            setattr(opt, name, value)
        else:
            raise ConfigError(f"the {self.config.optimizer.name} optimizer has no {name!r} setting")
        self.edits.append({"step": self.step, "field": name, "value": value})

    def apply_edit(self, edit: dict[str, Any]) -> None:
        if edit["field"] == "lr":
            self.set_learning_rate(edit["value"])
        else:
            self.set_optimizer_option(edit["field"], edit["value"])

    @classmethod
    def replay(cls, config: RunConfig, edits: list[dict[str, Any]], steps: int) -> Run:
        """Rebuild a run from its recipe: the seed fixes everything else, so applying the recorded edits
        at their steps reproduces the original run bit for bit."""
        run = cls(config)
        pending = sorted(edits, key=lambda e: e["step"])
        while run.step < steps and not run.finished:
            while pending and pending[0]["step"] <= run.step:
                run.apply_edit(pending.pop(0))
            run.train_step()
        return run

    # -- evaluation -------------------------------------------------------------------------------
    def evaluate(self, split: str = "val") -> EvalResult | None:
        data = {"train": self.train_split, "val": self.val_split, "test": self.test_split}.get(split)
        if split not in ("train", "val", "test"):
            raise ConfigError(f"unknown split {split!r} (train, val or test)")
        return None if data is None else evaluate(self.model, data)

    def clone_model(self) -> Model:
        """An independent copy of the model with the current weights (for probes that must not disturb
        the run: their forward passes overwrite the model's caches)."""
        copy = build_model(self.config.model, seed=self.config.seed)
        copy.params.data[...] = self.model.params.data
        copy.eval()
        return copy
