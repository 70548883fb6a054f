"""Every option of a run in one schema, and the one way to build a ``RunConfig`` from flat options.

Each option is declared once, as a ``core.validation.Option`` beside the config it belongs to; this
module collects them in the order they are shown (task, dataset, model, optimizer, run):

    TASK_OPTIONS       core.data.task      operations, max_value, min_args, max_args, max_depth
    DATASET_OPTIONS    core.data.dataset   n_train, n_val, n_test, data_seed
    MODEL_OPTIONS      core.nn.config      kind, d_model, n_layers, n_heads, d_ff, dropout, norm, …
    OPTIMIZER_OPTIONS  core.optim.config   optimizer, lr, momentum, …, schedule, warmup_steps, …
    RUN_OPTIONS        core.train.run      seed, epochs, eval_every

The configs validate themselves with these declarations, and the command line's flags
(``workbench.cli``), the app's form fields (``workbench.settings_fields``), the mid-run editable set
(``core.train.run.EDITABLE_OPTIONS``) and the checkpoint's saved editable settings are derived from them.

*Flat options* are a plain dict of option name → value (``{"n_layers": 2, "lr": 3e-3, …}``): what the
CLI parses and what the app's forms hold. ``build_run_config`` turns them into a ``RunConfig`` (the
CLI and the app both use it) and ``flat_options`` is its inverse.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.data.dataset import DATASET_OPTIONS, DatasetConfig
from core.data.operations import DEFAULT_OPERATIONS
from core.data.task import TASK_OPTIONS, TaskConfig
from core.errors import ConfigError
from core.nn.config import MODEL_OPTIONS
from core.optim.config import OPTIMIZER_OPTIONS, OptimizerConfig
from core.train.run import EDITABLE_OPTIONS, RUN_OPTIONS, RunConfig, steps_per_epoch
from core.validation import Option

__all__ = [
    "DATASET_OPTIONS", "EDITABLE_OPTIONS", "GROUPS", "MODEL_OPTIONS", "OPTIMIZER_OPTIONS", "OPTIONS", "RUN_OPTIONS",
    "TASK_OPTIONS", "build_dataset_config", "build_run_config", "dataset_options", "default_options",
    "flat_options", "option",
]

#: the user's options by group (derived ones such as ``total_steps`` left out), in the order shown
GROUPS: dict[str, tuple[Option, ...]] = {
    group: tuple(o for o in options if not o.derived)
    for group, options in (("task", TASK_OPTIONS), ("dataset", DATASET_OPTIONS), ("model", MODEL_OPTIONS),
                           ("optimizer", OPTIMIZER_OPTIONS), ("run", RUN_OPTIONS))
}
#: every option a user sets, by name
OPTIONS: dict[str, Option] = {o.name: o for options in GROUPS.values() for o in options}
assert len(OPTIONS) == sum(map(len, GROUPS.values())), "option names must be unique"


def option(name: str) -> Option:
    """The option called ``name``; a ConfigError listing the known ones if there is none."""
    try:
        return OPTIONS[name]
    except KeyError:
        raise ConfigError(f"unknown option {name!r}; the options are {', '.join(OPTIONS)}") from None


def default_options() -> dict[str, Any]:
    """Every option at its default."""
    return {name: o.default for name, o in OPTIONS.items()}


def _fields(group: str, values: Mapping[str, Any]) -> dict[str, Any]:
    return {o.field: values[o.name] for o in GROUPS[group]}


def _complete(values: Mapping[str, Any], groups: tuple[str, ...]) -> dict[str, Any]:
    names = {o.name for g in groups for o in GROUPS[g]}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                          f"the options are {', '.join(sorted(names))}")
    return {**{n: OPTIONS[n].default for n in names}, **values}


def build_dataset_config(values: Mapping[str, Any]) -> DatasetConfig:
    """The dataset config from flat task and dataset options (missing ones at their defaults)."""
    v = _complete(values, ("task", "dataset"))
    return DatasetConfig(TaskConfig(**_fields("task", v)), **_fields("dataset", v))


def dataset_options(config: DatasetConfig) -> dict[str, Any]:
    """The inverse of ``build_dataset_config``: the task and dataset options of ``config``."""
    return {**{o.name: getattr(config.task, o.field) for o in GROUPS["task"]},
            **{o.name: getattr(config, o.field) for o in GROUPS["dataset"]}}


def build_run_config(values: Mapping[str, Any]) -> RunConfig:
    """The run config from flat options (any missing one at its default; an unknown one is an error).

    The derived settings follow from the others: the model's vocabulary size, classes and ``max_len``
    from the task (``RunConfig.create``), and the schedule's ``total_steps`` = steps per epoch
    (⌈n_train / batch_size⌉) × epochs. Every value is checked by the config it lands in, so a bad one
    raises the config's ``ConfigError`` naming the option.
    """
    v = _complete(values, tuple(GROUPS))
    data = DatasetConfig(TaskConfig(**_fields("task", v)), **_fields("dataset", v))
    run = _fields("run", v)
    for o in GROUPS["run"]:  # checked before epochs is used to compute total_steps
        o.check(v[o.name])
    option("batch_size").check(v["batch_size"])
    per_epoch = steps_per_epoch(data.n_train, v["batch_size"])
    total = per_epoch * v["epochs"]
    try:
        optimizer = OptimizerConfig(**_fields("optimizer", v), total_steps=total)
    except ConfigError as exc:  # total_steps is no option of its own: say where it comes from, and the fix
        if "total_steps" not in str(exc):
            raise
        epochs = f"{v['epochs']:,} epoch{'s' if v['epochs'] != 1 else ''}"
        raise ConfigError(f"{exc}: total steps = {epochs} × {per_epoch:,} steps per epoch; lower warmup_steps or "
                          "train for more epochs") from None
    return RunConfig.create(data, optimizer=optimizer, **run, **_fields("model", v))


def flat_options(config: RunConfig) -> dict[str, Any]:
    """The inverse of ``build_run_config``: every option of ``config`` by name. Exact for configs that
    ``build_run_config`` built (the derived settings are left out: they follow from the rest)."""
    sections: dict[str, Any] = {"model": config.model, "optimizer": config.optimizer, "run": config}
    return {**dataset_options(config.dataset),
            **{o.name: getattr(sections[g], o.field) for g in ("model", "optimizer", "run") for o in GROUPS[g]}}


def default_checkpoint_name(config: RunConfig) -> str:
    """A name that tells runs of different tasks apart: kind, operations (unless the usual five),
    number range, argument counts, nesting."""
    t = config.dataset.task
    nested = f"-depth{t.max_depth}" if t.max_depth > 1 else ""
    ops = "" if t.operations == DEFAULT_OPERATIONS else "-" + "-".join(op.lower() for op in t.operations)
    return f"{config.model.kind}{ops}-0-{t.max_value}-{t.min_args}to{t.max_args}args{nested}"
