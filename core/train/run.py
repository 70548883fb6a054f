"""A training run: everything needed to train one model on one task, built from one ``RunConfig``.

The run owns the dataset and its encoded splits, the model, the optimizer and the position in the data
(epoch, batch). Batch order is a function of (seed, epoch) only — ``default_rng([seed, epoch])`` — so
the position alone is enough to resume exactly where a run stopped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Self

import numpy as np

from core.budget import check_budget
from core.data.batching import Batch, EncodedSplit, encode_examples, make_batch
from core.data.dataset import Dataset, DatasetConfig, generate_dataset
from core.data.vocab import VOCAB
from core.errors import ConfigError
from core.nn.config import SMALLER, ModelConfig, estimate_training_bytes
from core.nn.models import build_model, copy_model
from core.nn.models.factory import Model
from core.optim import build_optimizer, build_schedule
from core.optim.config import OPTIMIZER_OPTIONS, OptimizerConfig
from core.train.evaluation import EvalResult, evaluate
from core.train.trainer import StepMetrics, Trainer
from core.validation import MAX_SEED, Option, option_defaults, validate_options

#: The run's own options (see ``core.validation.Option``); the task's, dataset's, model's and optimizer's
#: are declared beside their configs and all of them are collected in ``core.train.options``.
RUN_OPTIONS: tuple[Option, ...] = (
    Option("seed", "int", 0, "seed", "initialisation, batch order and dropout", 0, MAX_SEED),
    Option("epochs", "int", 20, "epochs",
           "passes over the training split; with --resume, the total the run continues up to", 1, 100_000),
    Option("eval_every", "int", 0, "eval every", "steps between validations; 0 = once per epoch", 0, 10**9),
)
_DEFAULT = option_defaults(RUN_OPTIONS)
_RUN_OPTION = {o.name: o for o in RUN_OPTIONS}

#: the settings that can change mid-run (those declared ``editable``), by name
EDITABLE_OPTIONS: dict[str, Option] = {o.name: o for o in OPTIMIZER_OPTIONS if o.editable is not None}


def check_option(name: str, value: Any) -> float:
    """Validate a mid-run edit; returns the value as float or raises ConfigError saying what is wrong."""
    if name not in EDITABLE_OPTIONS:
        raise ConfigError(f"cannot change {name!r} mid-run (editable: {', '.join(EDITABLE_OPTIONS)})")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    EDITABLE_OPTIONS[name].check(value)
    return float(value)


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    """Training steps in one pass over ``n_train`` examples (the last batch may be short)."""
    return max(1, math.ceil(n_train / max(1, batch_size)))


@dataclass(frozen=True)
class RunConfig:
    """Task data, model, optimizer, seed and length of a run: the whole recipe, as plain data."""

    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    seed: int = _DEFAULT["seed"]
    epochs: int = _DEFAULT["epochs"]
    eval_every: int = _DEFAULT["eval_every"]  # steps between evaluations; 0 = once per epoch

    def __post_init__(self) -> None:
        task = self.dataset.task
        if self.model.vocab_size > len(VOCAB):
            raise ConfigError(f"model vocab_size {self.model.vocab_size} is larger than the vocabulary ({len(VOCAB)})")
        # an older model's vocabulary is a prefix of today's: it must still hold every token of the task
        unknown = [op for op in task.operations if VOCAB.id_of(op) >= self.model.vocab_size]
        if unknown:
            raise ConfigError(f"the model's vocabulary ({self.model.vocab_size} tokens, made before "
                              f"{', '.join(unknown)} existed) has no token for {', '.join(unknown)}: "
                              f"train a new model for this task")
        if self.model.kind == "encoder" and task.list_valued:
            raise ConfigError(f"{task.describe()}: a list answer (Sort's) is written token by token, which only "
                              "a decoder does; an encoder picks one number (use --kind decoder)")
        if self.model.kind == "encoder" and self.model.num_classes != task.num_classes:
            raise ConfigError(f"model num_classes {self.model.num_classes} does not match the task's "
                              f"{task.num_classes} possible answers")
        longest = task.max_expression_tokens + (task.max_answer_tokens + 1 if self.model.kind == "decoder" else 0)
        if longest > self.model.max_len:
            raise ConfigError(f"the task's longest sequence ({longest} tokens) exceeds the model's max_len "
                              f"({self.model.max_len})")
        validate_options(self, RUN_OPTIONS)
        # the model, its optimizer, a batch's activations and the data, together (``core.budget``)
        check_budget(estimate_training_bytes(self.model, self.optimizer.batch_size, longest)
                     + self.dataset.estimated_bytes(), "this run", f"{SMALLER}, or batch_size or the dataset")

    @classmethod
    def create(cls, dataset: DatasetConfig | None = None, kind: str = ModelConfig.kind, seed: int = _DEFAULT["seed"],
               epochs: int = _DEFAULT["epochs"], eval_every: int = _DEFAULT["eval_every"],
               optimizer: OptimizerConfig | None = None, **model_kwargs: Any) -> Self:
        """A config whose model matches the task (vocabulary size, classes, length)."""
        dataset = dataset or DatasetConfig()
        task = dataset.task
        need = task.max_expression_tokens + (task.max_answer_tokens + 1 if kind == "decoder" else 0)
        model_kwargs.setdefault("max_len", max(32, need))
        model = ModelConfig(kind=kind, vocab_size=task.vocab_size, num_classes=task.num_classes, **model_kwargs)
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
                   OptimizerConfig.from_dict(data["optimizer"]), data.get("seed", _DEFAULT["seed"]),
                   data.get("epochs", _DEFAULT["epochs"]), data.get("eval_every", _DEFAULT["eval_every"]))

    def with_epochs(self, epochs: int) -> Self:
        """The same run trained for ``epochs`` epochs in total, its schedule stretched to match: the
        optimizer's ``total_steps`` becomes steps per epoch × ``epochs``, as ``build_run_config`` sets it."""
        _RUN_OPTION["epochs"].check(epochs)
        total = steps_per_epoch(self.dataset.n_train, self.optimizer.batch_size) * epochs
        return replace(self, epochs=epochs, optimizer=replace(self.optimizer, total_steps=total))


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
        return steps_per_epoch(len(self.train_split), self.batch_size)

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.config.epochs

    @property
    def step(self) -> int:
        return self.trainer.step

    @property
    def finished(self) -> bool:
        return self.epoch >= self.config.epochs

    def epoch_of(self, step: int) -> int:
        """The 1-based epoch that the ``step``-th step belonged to (1 before any step): what a progress line
        shows beside "step N" — so a full-batch run reads "step 125 · epoch 125", not the epoch the next
        step will start. Computed from the one step a reader took, not read beside it from ``epoch``, which
        the training thread may have moved on meanwhile ("step 401 · epoch 403")."""
        return max(1, min(-(-step // self.steps_per_epoch), self.config.epochs))

    def set_epochs(self, epochs: int) -> None:
        """Train up to ``epochs`` epochs in total instead of ``config.epochs`` (resuming with more epochs).

        The config becomes ``config.with_epochs(epochs)`` and the schedule is rebuilt over the new length,
        so from the current step on the learning rate follows the schedule a run of ``epochs`` epochs
        would have had: a constant or step schedule is unchanged; a cosine one is stretched (its decay
        now ends at the new last step; a run that had already decayed to min_lr warms back up to the
        longer curve's value at this step). Mid-run edits of the lr keep their scale. Refused unless
        ``epochs`` is more than the epochs already completed (``epoch``) and within the option's bounds.
        """
        if isinstance(epochs, int) and not isinstance(epochs, bool) and epochs <= self.epoch:
            raise ConfigError(f"this run has already trained {self.epoch} epoch{'s' if self.epoch != 1 else ''}; "
                              f"epochs counts epochs in total, so give more than {self.epoch}, got {epochs}")
        self.config = self.config.with_epochs(epochs)
        self.trainer.schedule = build_schedule(self.config.optimizer)

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
        return copy_model(self.model)
