"""The app's settings forms, derived from the option schema (``core.train.options``).

A field's label, kind, bounds, default, choices and tooltip all come from its option's declaration; this
module only decides which options each form shows and in what order, and converts between the forms'
values and the schema's flat options:

    MODEL_FIELDS, OPTIMIZER_FIELDS   the Training pane (``TRAINING_FIELDS`` = both)
    DATASET_FIELDS                   the Dataset pane (the operations are its checkboxes, not a field)

A field's ``key`` is the config field it sets (``n_layers``, the optimizer's ``name``, the dataset's
``seed``), which names its widgets (``#cfg-n_layers``, ``#ds-seed``) and is what the core's cross-field
errors mention; its ``option`` is the schema name when that differs (``optimizer``, ``data_seed``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from core.data.dataset import DatasetConfig
from core.train.options import build_dataset_config, build_run_config, dataset_options, flat_options, option
from core.train.run import RunConfig
from core.validation import Option
from workbench.widgets.form import FieldSpec

#: int options shown as a drop-down of every allowed value (a small range)
SELECT_OPTIONS = frozenset({"max_depth"})


def field_spec(o: Option) -> FieldSpec:
    """The form field of option ``o``."""
    aliases = (o.name,) if o.name != o.field else ()
    if o.kind == "choice":
        return FieldSpec(o.field, o.label, "choice", o.default, choices=o.shown_choices, tooltip=o.help,
                         aliases=aliases, option=o.name)
    if o.kind not in ("int", "float"):
        raise ValueError(f"option {o.name} ({o.kind}) has no single form field")
    if o.name in SELECT_OPTIONS and o.lo is not None and o.hi is not None:
        values = range(int(o.lo), int(o.hi) + 1)
        return FieldSpec(o.field, o.label, "choice", o.default, choices=tuple((str(v), v) for v in values),
                         tooltip=o.help, aliases=aliases, option=o.name)
    return FieldSpec(o.field, o.label, o.kind, o.default, o.lo, o.hi, o.lo_open, tooltip=o.help, aliases=aliases,
                     option=o.name)


def field_specs(*names: str) -> tuple[FieldSpec, ...]:
    return tuple(field_spec(option(name)) for name in names)


MODEL_FIELDS = field_specs("kind", "d_model", "n_layers", "n_heads", "d_ff", "dropout", "norm", "activation",
                           "positional")
OPTIMIZER_FIELDS = field_specs("optimizer", "lr", "schedule", "warmup_steps", "min_lr", "batch_size", "epochs",
                               "clip_norm", "weight_decay", "beta2", "eps", "eval_every", "seed")
TRAINING_FIELDS = MODEL_FIELDS + OPTIMIZER_FIELDS
DATASET_FIELDS = field_specs("max_value", "min_args", "max_args", "max_depth", "strategy", "n_train", "n_val", "n_test",
                             "data_seed")
#: the Dataset pane's operations checkboxes feed this option
OPERATIONS_OPTION = option("operations")


def to_options(values: Mapping[str, Any], specs: Iterable[FieldSpec]) -> dict[str, Any]:
    """A form's values (by field key) as flat options (by option name); keys not in ``specs`` are left out."""
    return {spec.option_name: values[spec.key] for spec in specs if spec.key in values}


def to_values(options: Mapping[str, Any], specs: Iterable[FieldSpec]) -> dict[str, Any]:
    """The inverse of ``to_options``: what each field of ``specs`` shows for these flat options."""
    return {spec.key: options[spec.option_name] for spec in specs}


def run_config_from_form(values: Mapping[str, Any], dataset: DatasetConfig) -> RunConfig:
    """The run the Training form describes, on ``dataset`` (``core.train.options.build_run_config``);
    a ConfigError naming the option if the core refuses it."""
    return build_run_config({**dataset_options(dataset), **to_options(values, TRAINING_FIELDS)})


def training_form_values(config: RunConfig) -> dict[str, Any]:
    """What the Training form shows for ``config`` (after loading a checkpoint), by field key."""
    return to_values(flat_options(config), TRAINING_FIELDS)


def dataset_config_from_form(values: Mapping[str, Any], operations: tuple[str, ...]) -> DatasetConfig:
    """The dataset the Dataset form describes, with the ticked ``operations``."""
    return build_dataset_config({OPERATIONS_OPTION.name: operations, **to_options(values, DATASET_FIELDS)})


def dataset_form_values(config: DatasetConfig) -> dict[str, Any]:
    """What the Dataset form's fields show for ``config``, by field key (the operations are separate)."""
    return to_values(dataset_options(config), DATASET_FIELDS)
