"""The option schema (``core.train.options``) is the one source of every option's facts: the configs'
validation, the CLI's flags, the app's form fields and the mid-run editable sets all follow it."""

from __future__ import annotations

import argparse
import dataclasses
import io
from contextlib import redirect_stdout
from typing import Any

import pytest

from core.data.dataset import DatasetConfig
from core.data.task import TaskConfig
from core.errors import ConfigError
from core.nn.config import ModelConfig
from core.optim.config import OptimizerConfig
from core.train import checkpoint
from core.train.checkpoint import read_checkpoint, save_checkpoint
from core.train.options import (
    GROUPS,
    OPTIONS,
    build_dataset_config,
    build_run_config,
    dataset_options,
    default_options,
    flat_options,
    option,
)
from core.train.run import EDITABLE_OPTIONS, Run, RunConfig, check_option
from core.validation import MAX_SEED, Option
from tests.conftest import tiny_config
from workbench import cli
from workbench.settings_fields import (
    DATASET_FIELDS,
    MODEL_FIELDS,
    OPTIMIZER_FIELDS,
    TRAINING_FIELDS,
    dataset_config_from_form,
    dataset_form_values,
    run_config_from_form,
    training_form_values,
)
from workbench.widgets.form import FieldSpec

#: every option at a valid value other than its default (a new option must be added here)
NON_DEFAULT: dict[str, Any] = {
    "operations": ("Max", "Min", "Second"), "max_value": 99, "min_args": 2, "max_args": 4, "max_depth": 2,
    "strategy": "uniform", "n_train": 500, "n_val": 50, "n_test": 60, "data_seed": 7,
    "kind": "decoder", "d_model": 24, "n_layers": 3, "n_heads": 3, "d_ff": 40, "dropout": 0.1, "norm": "post",
    "activation": "gelu", "positional": "learned",
    "optimizer": "adamw", "lr": 3e-3, "momentum": 0.5, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6,
    "weight_decay": 0.01, "clip_norm": 0.5, "schedule": "cosine", "warmup_steps": 5, "min_lr": 1e-5,
    "step_size": 50, "gamma": 0.9, "label_smoothing": 0.1, "batch_size": 16,
    "seed": 3, "epochs": 2, "eval_every": 10,
}

GROUP_CONFIG: dict[str, type] = {"task": TaskConfig, "dataset": DatasetConfig, "model": ModelConfig,
                                 "optimizer": OptimizerConfig, "run": RunConfig}


def _train_parser() -> argparse.ArgumentParser:
    sub = next(a for a in cli._parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["train"]


def _train_help() -> str:
    return " ".join(_train_parser().format_help().split())


def _group_of(o: Option) -> str:
    return next(g for g, options in GROUPS.items() if o in options)


# -- the schema itself --------------------------------------------------------------------------------------
def test_the_non_default_table_covers_every_option() -> None:
    assert set(NON_DEFAULT) == set(OPTIONS)
    for name, value in NON_DEFAULT.items():
        assert value != OPTIONS[name].default, name


def test_every_option_is_declared_completely() -> None:
    for o in OPTIONS.values():
        assert o.label and o.help and o.kind in ("int", "float", "choice", "names"), o.name
        if o.kind in ("int", "float"):
            assert o.lo is not None and o.hi is not None and o.lo < o.hi, o.name
            assert o.check(o.default) == o.default
        else:
            assert o.choices, o.name


def test_the_configs_take_their_defaults_from_the_schema() -> None:
    config = RunConfig()
    sections = {"task": config.dataset.task, "dataset": config.dataset, "model": config.model,
                "optimizer": config.optimizer, "run": config}
    for group, options in GROUPS.items():
        for o in options:
            assert getattr(sections[group], o.field) == o.default, o.name


def test_one_seed_limit_everywhere() -> None:
    assert option("seed").hi == option("data_seed").hi == MAX_SEED
    DatasetConfig(seed=MAX_SEED)
    RunConfig(seed=MAX_SEED)
    with pytest.raises(ConfigError, match="data_seed must be between 0 and 9,223,372,036,854,775,807"):
        DatasetConfig(seed=MAX_SEED + 1)
    with pytest.raises(ConfigError, match="seed must be between 0 and 9,223,372,036,854,775,807"):
        RunConfig(seed=MAX_SEED + 1)
    seed_fields = [s for s in TRAINING_FIELDS + DATASET_FIELDS if s.key == "seed"]
    assert len(seed_fields) == 2 and all(s.hi == MAX_SEED for s in seed_fields)


# -- flat options ↔ RunConfig ------------------------------------------------------------------------------
def test_build_and_flatten_are_inverse() -> None:
    config = build_run_config(NON_DEFAULT)
    assert flat_options(config) == NON_DEFAULT
    assert build_run_config(flat_options(config)) == config
    assert flat_options(build_run_config({})) == default_options()
    data_options = {k: NON_DEFAULT[k] for k in (*_names("task"), *_names("dataset"))}
    data = build_dataset_config(data_options)
    assert data == config.dataset and dataset_options(data) == data_options


def _names(group: str) -> list[str]:
    return [o.name for o in GROUPS[group]]


def test_each_flat_option_lands_in_its_config_field() -> None:
    config = build_run_config(NON_DEFAULT)
    sections = {"task": config.dataset.task, "dataset": config.dataset, "model": config.model,
                "optimizer": config.optimizer, "run": config}
    for group, options in GROUPS.items():
        for o in options:
            assert getattr(sections[group], o.field) == NON_DEFAULT[o.name], o.name


def test_total_steps_is_steps_per_epoch_times_epochs() -> None:
    config = build_run_config({"n_train": 100, "batch_size": 32, "epochs": 3, "schedule": "cosine"})
    assert config.optimizer.total_steps == 4 * 3  # ⌈100 / 32⌉ = 4 steps per epoch
    assert Run(dataclasses.replace(config, dataset=dataclasses.replace(config.dataset, n_val=10, n_test=10))
               ).total_steps == 12
    longer = config.with_epochs(5)
    assert longer.epochs == 5 and longer.optimizer.total_steps == 20 and longer.model == config.model


def test_unknown_or_bad_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown option layers"):
        build_run_config({"layers": 2})
    with pytest.raises(ConfigError, match="unknown option lr"):
        build_dataset_config({"lr": 0.1})
    with pytest.raises(ConfigError, match="epochs must be an integer"):
        build_run_config({"epochs": "many"})
    with pytest.raises(ConfigError, match="batch_size must be between 1 and 65,536, got 0"):
        build_run_config({"batch_size": 0})


def test_a_changed_default_changes_what_the_cli_and_the_form_build(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(OPTIONS, "n_layers", dataclasses.replace(OPTIONS["n_layers"], default=5))
    assert build_run_config({}).model.n_layers == 5
    assert build_run_config(cli.given_options(_train_parser().parse_args([]))).model.n_layers == 5


# -- the command line ----------------------------------------------------------------------------------------
def test_every_option_is_a_flag_with_its_help_and_default() -> None:
    actions = {a.dest: a for a in _train_parser()._actions}
    text = _train_help()
    for o in OPTIONS.values():
        action = actions[o.name]
        assert action.option_strings == [o.flag, *o.aliases], o.name
        assert action.default is argparse.SUPPRESS  # so that only what the user typed is in the namespace
        assert f"{o.help}" in (action.help or "") and f"(default: {o.format(o.default)})" in (action.help or "")
        if o.kind in ("int", "float"):
            assert o.describe() in (action.help or ""), o.name
        else:
            assert o.kind == "names" or tuple(action.choices or ()) == o.choices, o.name
        assert " ".join(f"{o.flag}".split()) in text


def test_the_help_follows_the_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    model = tuple(dataclasses.replace(o, help="how many blocks to stack") if o.name == "n_layers" else o
                  for o in GROUPS["model"])
    monkeypatch.setitem(GROUPS, "model", model)
    assert "--layers N how many blocks to stack; between 1 and 48 (default: 2)" in _train_help()


@pytest.mark.parametrize(
    ("argv", "name", "value"),
    [
        (["--depth", "2"], "max_depth", 2),
        (["--nesting", "3"], "max_depth", 3),
        (["--ops", "Max, Min"], "operations", ("Max", "Min")),
        (["--operations", "Last"], "operations", ("Last",)),
        (["--warmup", "5"], "warmup_steps", 5),
        (["--warmup-steps", "6"], "warmup_steps", 6),
        (["--clip", "0.5"], "clip_norm", 0.5),
        (["--clip-norm", "0.25"], "clip_norm", 0.25),
        (["--layers", "3"], "n_layers", 3),
        (["--heads", "8"], "n_heads", 8),
        (["--d-ff", "64"], "d_ff", 64),
        (["--data-seed", "4"], "data_seed", 4),
        (["--seed", "9"], "seed", 9),
        (["--max-value", "99"], "max_value", 99),
        (["--optimizer", "sgd"], "optimizer", "sgd"),
    ],
)
def test_old_and_new_flag_names_work(argv: list[str], name: str, value: Any) -> None:
    given = cli.given_options(_train_parser().parse_args(argv))
    assert given == {name: value}


def test_cli_defaults_are_the_schema_defaults() -> None:
    assert cli.given_options(_train_parser().parse_args([])) == {}
    assert build_run_config({}) == build_run_config(default_options())


def test_app_and_cli_use_the_same_words() -> None:
    for spec in TRAINING_FIELDS + DATASET_FIELDS:
        o = option(spec.option_name)
        assert spec.label == o.label
        assert o.flag == "--" + o.label.replace(" ", "-").replace("_", "-")
    assert option("max_depth").label == "nesting" and option("max_depth").flag == "--nesting"


# -- the forms -------------------------------------------------------------------------------------------------
def _core_error(o: Option, value: Any) -> str:
    """The core's verdict on ``value`` for ``o`` alone: "" if its config accepts it (other rules aside)."""
    try:
        GROUP_CONFIG[_group_of(o)](**{o.field: value})
    except ConfigError as exc:
        return str(exc) if str(exc).startswith(f"{o.name} must be") else ""
    return ""


def _form_accepts(spec: FieldSpec, value: Any) -> bool:
    if spec.kind == "choice":
        return value in [v for _, v in spec.choices]
    result = spec.validators()[0].validate(spec.format(value))
    return result.is_valid


def _probes(o: Option) -> list[tuple[Any, bool]]:
    """Values at and just beyond each bound, with whether they are allowed."""
    assert o.lo is not None and o.hi is not None
    if o.kind == "int":
        lo, hi = int(o.lo), int(o.hi)
        return [(lo, True), (hi, True), (lo - 1, False), (hi + 1, False)]
    step = max(abs(o.hi), 1.0) * 1e-3
    return [(o.lo, not o.lo_open), (o.lo + step, True), (o.hi, True), (o.lo - step, False), (o.hi + step, False)]


@pytest.mark.parametrize("spec", TRAINING_FIELDS + DATASET_FIELDS, ids=lambda s: s.key)
def test_form_fields_come_from_the_schema(spec: FieldSpec) -> None:
    o = option(spec.option_name)
    assert spec.key == o.field and spec.label == o.label and spec.tooltip == o.help
    assert spec.default == o.default
    if o.kind == "choice":
        assert spec.kind == "choice" and tuple(v for _, v in spec.choices) == o.choices
    elif spec.kind == "choice":  # a small int range shown as a drop-down
        assert tuple(v for _, v in spec.choices) == tuple(range(int(o.lo or 0), int(o.hi or 0) + 1))
    else:
        assert (spec.kind, spec.lo, spec.hi, spec.lo_open) == (o.kind, o.lo, o.hi, o.lo_open)


@pytest.mark.parametrize("spec", [s for s in TRAINING_FIELDS + DATASET_FIELDS
                                  if option(s.option_name).kind in ("int", "float")], ids=lambda s: s.key)
def test_the_form_and_the_core_accept_the_same_values(spec: FieldSpec) -> None:
    o = option(spec.option_name)
    for value, allowed in _probes(o):
        core_ok = not _core_error(o, value)
        assert core_ok == allowed, (o.name, value, _core_error(o, value))
        assert _form_accepts(spec, value) == allowed, (spec.key, value)
    if spec.kind != "choice":  # both say the range in the same words
        bad = _probes(o)[-1][0]
        form_reason = spec.validators()[0].validate(spec.format(bad)).failure_descriptions[0]
        assert form_reason in _core_error(o, bad)


def test_the_form_tables_show_the_expected_options() -> None:
    assert [s.option_name for s in MODEL_FIELDS] == ["kind", "d_model", "n_layers", "n_heads", "d_ff", "dropout",
                                                     "norm", "activation", "positional"]
    assert [s.option_name for s in OPTIMIZER_FIELDS] == ["optimizer", "lr", "schedule", "warmup_steps", "min_lr",
                                                         "batch_size", "epochs", "clip_norm", "weight_decay",
                                                         "beta2", "eps", "eval_every", "seed"]
    assert [s.option_name for s in DATASET_FIELDS] == [o.name for o in GROUPS["task"][1:] + GROUPS["dataset"]]
    assert [s.key for s in DATASET_FIELDS][-1] == "seed"  # the widget ids stay #ds-seed, #cfg-name …
    assert next(s for s in OPTIMIZER_FIELDS if s.option_name == "optimizer").key == "name"


def test_form_values_round_trip() -> None:
    config = build_run_config(NON_DEFAULT)
    values = training_form_values(config)
    assert set(values) == {s.key for s in TRAINING_FIELDS} and values["name"] == "adamw"
    # the options the form does not show keep their defaults
    rebuilt = run_config_from_form(values, config.dataset)
    hidden = {o.name for o in OPTIONS.values()} - {s.option_name for s in TRAINING_FIELDS} \
        - set(_names("task")) - set(_names("dataset"))
    assert rebuilt == build_run_config({**NON_DEFAULT, **{n: OPTIONS[n].default for n in hidden}})
    assert run_config_from_form(training_form_values(rebuilt), rebuilt.dataset) == rebuilt
    data = config.dataset
    assert dataset_form_values(data)["seed"] == 7
    assert dataset_config_from_form(dataset_form_values(data), data.task.operations) == data


# -- editable mid-run ------------------------------------------------------------------------------------------
def test_the_editable_sets_follow_the_schema() -> None:
    editable = {o.name for o in OPTIONS.values() if o.editable is not None}
    assert set(EDITABLE_OPTIONS) == editable == {"lr", "weight_decay", "clip_norm", "momentum", "beta1", "beta2"}
    assert set(checkpoint.format.EDITABLE) == {n for n in editable if OPTIONS[n].editable == "optimizer"}
    with pytest.raises(ConfigError, match="cannot change 'batch_size' mid-run"):
        check_option("batch_size", 8)


@pytest.mark.parametrize("name", sorted(EDITABLE_OPTIONS))
def test_mid_run_edits_are_checked_against_the_declared_bounds(name: str) -> None:
    o = OPTIONS[name]
    for value, allowed in _probes(o):
        if allowed:
            assert check_option(name, value) == value
        else:
            with pytest.raises(ConfigError, match=f"{name} must be in"):
                check_option(name, value)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_checkpoint_keeps_every_optimizer_setting_edited_mid_run(models_dir: Any, optimizer: str) -> None:
    run = Run(tiny_config(epochs=1))
    run = Run(dataclasses.replace(run.config, optimizer=dataclasses.replace(run.config.optimizer, name=optimizer)))
    edited = {}
    for name, o in EDITABLE_OPTIONS.items():
        if o.editable == "optimizer" and hasattr(run.trainer.optimizer, name):
            value = float(o.hi) / 2  # type: ignore[arg-type]
            run.set_optimizer_option(name, value)
            edited[name] = value
    assert edited  # sgd has momentum, adam its betas; both have weight decay
    run.train_step()
    save_checkpoint(run, "edited")
    restored, _ = read_checkpoint("edited").build_run()
    assert {n: getattr(restored.trainer.optimizer, n) for n in edited} == edited


def test_help_output_lists_groups_in_schema_order() -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["train", "--help"]) == 0
    text = out.getvalue()
    positions = [text.index(f"  {o.flag}") for options in GROUPS.values() for o in options]
    assert positions == sorted(positions)


def test_a_warm_up_longer_than_the_run_says_where_the_total_comes_from_and_the_fix() -> None:
    """`--preset sort --epochs 1 --n-train 2000`: 63 steps, 100 of them warm-up."""
    with pytest.raises(ConfigError) as caught:
        build_run_config({"schedule": "cosine", "warmup_steps": 100, "n_train": 2000, "batch_size": 32, "epochs": 1})
    message = str(caught.value)
    assert "total_steps greater than warmup_steps (63 ≤ 100)" in message
    assert "total steps = 1 epoch × 63 steps per epoch; lower warmup_steps or train for more epochs" in message
