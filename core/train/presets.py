"""Presets: a task with a model and an optimiser that suit it, chosen by name (``--preset grokking``,
the Dataset pane's preset list).

A preset is a set of flat options (the names of ``core.train.options.OPTIONS``) laid over the defaults;
options given explicitly win over it, so ``--preset grokking --seed 3`` is the grokking run with
another seed. Each preset says what it shows and what to watch for, because a preset is a lesson's
starting point as much as a configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.errors import ConfigError
from core.train.options import build_run_config
from core.train.run import RunConfig

#: modular addition a + b mod P: a prime (a few Fourier frequencies solve it cleanly), small enough
#: that the full batch of training pairs is one fast step on two cores. Measured (benchmarks/grokking.py,
#: 2026-12-04): train accuracy ≥ 99% at step 200 while validation is 22–35%; validation stays below 50%
#: until step 700–2,200 and passes 95% at step 3,400 (seed 0, ~1 minute), 3,900 (seed 1) and 4,500 (seed 2).
#: lr 2e-3 rather than 1e-3: at 1e-3 seed 0 took 11,700 steps and seed 1 never passed 95% in 15,000.
#: eps 1e-6 rather than 1e-8: seed 1 took 14,400 steps at 1e-8. Once the training loss is near zero, Adam's
#: normalised steps knock the model off its solution now and then (validation falls, then climbs back
#: within a few hundred steps: the "falling" and "recovering" events); 8,000 steps show that too.
GROKKING_P = 47
GROKKING_TRAIN_SHARE = 0.4


@dataclass(frozen=True)
class Preset:
    """A named configuration: ``options`` over the defaults, ``title`` for lists, ``what`` to explain it."""

    name: str
    title: str
    what: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def run_config(self, overrides: Mapping[str, Any] | None = None) -> RunConfig:
        """The run config of this preset, with ``overrides`` (flat options) taking precedence."""
        return build_run_config({**self.options, **(overrides or {})})


def _grokking_options() -> dict[str, Any]:
    space = GROKKING_P * GROKKING_P
    n_train = round(GROKKING_TRAIN_SHARE * space)
    n_test = (space - n_train) // 2
    return {
        "operations": ("Sum",), "max_value": GROKKING_P - 1, "min_args": 2, "max_args": 2, "strategy": "all",
        "n_train": n_train, "n_val": space - n_train - n_test, "n_test": n_test,
        "kind": "encoder", "d_model": 64, "n_layers": 1, "n_heads": 4, "d_ff": 256, "positional": "learned",
        "optimizer": "adamw", "lr": 2e-3, "weight_decay": 1.0, "beta2": 0.98, "eps": 1e-6, "clip_norm": 1.0,
        "batch_size": n_train, "epochs": 8_000, "eval_every": 100,
    }


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("operations", "First/Second/Last/Max/Min over digits",
           "The original task: three digits, five operations. Solved in a few seconds; a good first run.", {}),
    Preset("sum", "Sum mod 10 over digits",
           "Sum(a, b, c) mod 10: the answer depends on every argument, so no single argument can be copied — "
           "the model has to combine them. Harder than Max.",
           {"operations": ("Sum",), "max_value": 9, "min_args": 2, "max_args": 3, "n_train": 20_000, "n_val": 250,
            "n_test": 250}),
    Preset("sum-0-99", "Sum mod 100 over 0–99",
           "Sum(a, b) mod 100 with two-digit numbers: the model must add digit by digit with a carry.",
           {"operations": ("Sum",), "max_value": 99, "min_args": 2, "max_args": 2, "n_train": 100_000,
            "d_model": 128, "n_layers": 2, "d_ff": 512, "positional": "learned", "lr": 1e-3, "batch_size": 128,
            "epochs": 10}),
    Preset("sort", "Sort 2–5 digits (a list answer)",
           "Sort(8, 2, 4) = [2, 4, 8]: the answer is a list, written token by token (2 , 4 , 8 and the end "
           "token), so only a decoder can give it. Each token is the smallest number not yet written: watch "
           "attention move along the arguments as the answer grows. A list counts as right only when every token "
           "is.",
           {"operations": ("Sort",), "max_value": 9, "min_args": 2, "max_args": 5, "n_train": 30_000,
            "kind": "decoder", "schedule": "cosine", "warmup_steps": 100, "lr": 2e-3, "epochs": 3,
            "eval_every": 100}),
    Preset("grokking", f"grokking: a + b mod {GROKKING_P}",
           f"Sum(a, b) mod {GROKKING_P}: {GROKKING_TRAIN_SHARE:.0%} of all {GROKKING_P * GROKKING_P} pairs to "
           "train on, the whole training set in every step, AdamW with strong weight decay. Training accuracy "
           "reaches 100% within a few hundred steps (memorising) while validation stays low; over the next "
           "few thousand steps, as weight decay wears the memorised weights down, validation climbs past 95% "
           "(generalising).",
           _grokking_options()),
)}


def preset(name: str) -> Preset:
    """The preset called ``name``; a ConfigError lists the presets otherwise."""
    found = PRESETS.get(name.strip().lower()) if isinstance(name, str) else None
    if found is None:
        raise ConfigError(f"unknown preset {name!r}; the presets are {', '.join(PRESETS)}")
    return found

