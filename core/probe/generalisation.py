"""Generalisation probes: how a model does on inputs *outside* its training task, when it can read them.

A model trained on three arguments may still be asked about four; one trained flat, about a nested
expression; a 0–9 decoder, about 42. None of that is in the test split, and none of it counts in the
evaluation's accuracy: each probe is reported on its own, labelled as outside the training task, with
its accuracy and size — or skipped, with the reason, when the model cannot take such inputs at all
(no longer expression fits its input length, an encoder has no class for a larger answer, the task
already reaches the limit the parser and the operations set).

    probe_generalisation(model, task)             → GeneralisationReport
    run_probes(task, kind, answer, fits)          the same with any answerer (an oracle in tests)
    probe_examples(task, kind, fits=...)          the generated examples alone

Answers come from the evaluation's own path (``core.probe.counterexamples.answer_expressions``), each
probe's expressions encoded for a task widened just enough to hold them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from core.data.expression import Expression, modulus_of
from core.data.operations import MAX_ARGS, MAX_NUMBER, MIN_ARGS
from core.data.task import MAX_DEPTH, TaskConfig
from core.nn.models.factory import Model
from core.probe.counterexamples import (
    DEFAULT_MAX_FAILURES,
    DRAWS_PER_EXAMPLE,
    RegionResult,
    Skipped,
    answer_all,
    answer_expressions,
    check_search_options,
    collect_distinct,
    nested_expression,
    region_rng,
    score,
)

DEFAULT_PER_PROBE = 200
#: why a task with list answers (Sort) is not probed: the probes score one number per expression
LIST_REASON = "the task's answers are lists (Sort); the probes compare single numbers"
OUTSIDE = "outside the training task"

ProbeResult = RegionResult  # a probe's numbers have the same shape as a counterexample region's
#: answers (−1 = none) to expressions, encoded for the given (widened) task
ProbeAnswerer = Callable[[TaskConfig, Sequence[Expression]], np.ndarray]
#: whether the model can read an expression and write any answer of the given (widened) task
ProbeFits = Callable[[Expression, TaskConfig], bool]


@dataclass(frozen=True)
class ProbeSample:
    """A probe's expressions and the widened task they are encoded for."""

    name: str
    title: str
    description: str
    task: TaskConfig
    expressions: list[Expression]


@dataclass(frozen=True)
class GeneralisationReport:
    per_probe: int
    seed: int
    probes: tuple[ProbeResult, ...]
    skipped: tuple[Skipped, ...]

    def probe(self, name: str) -> ProbeResult:
        for p in self.probes:
            if p.name == name:
                return p
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {"outside_training_task": True, "per_probe": self.per_probe, "seed": self.seed,
                "probes": [{**p.to_dict(), "outside_training_task": True} for p in self.probes],
                "skipped": [s.to_dict() for s in self.skipped]}


def _values(rng: np.random.Generator, task: TaskConfig, k: int) -> list[int | Expression]:
    return list(rng.integers(0, task.max_value + 1, size=k).tolist())


def _plan_more_args(task: TaskConfig, kind: str) -> tuple[TaskConfig | None, str]:
    if task.max_args >= MAX_ARGS:
        return None, f"the task already takes up to {MAX_ARGS} arguments, the most an expression may have"
    text = f"{task.max_args + 1} to {MAX_ARGS} arguments (trained: at most {task.max_args})"
    return replace(task, max_args=MAX_ARGS), text


def _plan_fewer_args(task: TaskConfig, kind: str) -> tuple[TaskConfig | None, str]:
    if not any(MIN_ARGS[op] < task.arg_range(op)[0] for op in task.operations):
        return None, (f"the task already starts at the fewest arguments its operations take "
                      f"({', '.join(f'{op} {MIN_ARGS[op]}' for op in task.operations)})")
    return replace(task, min_args=1), f"fewer than {task.min_args} arguments (trained: at least {task.min_args})"


def _plan_deeper(task: TaskConfig, kind: str) -> tuple[TaskConfig | None, str]:
    if task.max_depth >= MAX_DEPTH:
        return None, f"the task already nests {MAX_DEPTH} levels, the most a task may"
    depth = task.max_depth + 1
    trained = "flat" if task.max_depth == 1 else f"at most {task.max_depth} levels"
    return replace(task, max_depth=depth), f"nested {depth} levels (trained: {trained})"


def _plan_wider(task: TaskConfig, kind: str) -> tuple[TaskConfig | None, str]:
    if task.max_value >= MAX_NUMBER:
        return None, f"the task's numbers already go to {MAX_NUMBER}, the largest an expression may hold"
    if kind != "decoder":
        return None, (f"an encoder answers with one of its {task.num_classes} classes (0–{task.max_value}); "
                      f"it has no output for a larger number")
    return replace(task, max_value=MAX_NUMBER), (f"at least one number from {task.max_value + 1} to {MAX_NUMBER} "
                                                 f"(trained: 0–{task.max_value})")


def _draw_more_args(rng: np.random.Generator, task: TaskConfig, wide: TaskConfig) -> Expression:
    op = task.operations[int(rng.integers(len(task.operations)))]
    return Expression(op, tuple(_values(rng, task, int(rng.integers(task.max_args + 1, MAX_ARGS + 1)))),
                      modulus_of(op, task))


def _draw_fewer_args(rng: np.random.Generator, task: TaskConfig, wide: TaskConfig) -> Expression:
    ops = [op for op in task.operations if MIN_ARGS[op] < task.arg_range(op)[0]]
    op = ops[int(rng.integers(len(ops)))]
    return Expression(op, tuple(_values(rng, task, int(rng.integers(MIN_ARGS[op], task.arg_range(op)[0])))),
                      modulus_of(op, task))


def _draw_deeper(rng: np.random.Generator, task: TaskConfig, wide: TaskConfig) -> Expression:
    return nested_expression(rng, task, wide.max_depth)  # operations, arguments, numbers: the trained ones


def _draw_wider(rng: np.random.Generator, task: TaskConfig, wide: TaskConfig) -> Expression:
    op = task.operations[int(rng.integers(len(task.operations)))]
    lo, hi = task.arg_range(op)
    values = _values(rng, wide, int(rng.integers(lo, hi + 1)))
    values[int(rng.integers(len(values)))] = int(rng.integers(task.max_value + 1, MAX_NUMBER + 1))
    return Expression(op, tuple(values), modulus_of(op, task))


@dataclass(frozen=True)
class Probe:
    name: str
    title: str
    plan: Callable[[TaskConfig, str], tuple[TaskConfig | None, str]]  # (widened task, description) or reason
    draw: Callable[[np.random.Generator, TaskConfig, TaskConfig], Expression]


PROBES: tuple[Probe, ...] = (
    Probe("more_args", "more arguments", _plan_more_args, _draw_more_args),
    Probe("fewer_args", "fewer arguments", _plan_fewer_args, _draw_fewer_args),
    Probe("deeper_nesting", "deeper nesting", _plan_deeper, _draw_deeper),
    Probe("wider_values", "larger numbers", _plan_wider, _draw_wider),
)


def _draw_probe(probe: Probe, task: TaskConfig, wide: TaskConfig, fits: ProbeFits, n: int,
                seed: int) -> list[Expression]:
    rng = region_rng(seed, probe.name)
    return collect_distinct(lambda: probe.draw(rng, task, wide), n, lambda e: fits(e, wide), n * DRAWS_PER_EXAMPLE)


def probe_examples(task: TaskConfig, kind: str, fits: ProbeFits = lambda e, t: True,
                   per_probe: int = DEFAULT_PER_PROBE, seed: int = 0) -> tuple[list[ProbeSample], list[Skipped]]:
    """Each probe's distinct expressions (at most ``per_probe``, each passing ``fits`` for the probe's
    widened task), and the probes that cannot run, with the reason."""
    check_search_options(0.0, per_probe, seed)
    samples: list[ProbeSample] = []
    skipped: list[Skipped] = []
    for probe in PROBES:
        wide, text = probe.plan(task, kind) if not task.list_valued else (None, LIST_REASON)
        if wide is None:
            skipped.append(Skipped(probe.name, probe.title, text))
            continue
        exprs = _draw_probe(probe, task, wide, fits, per_probe, seed)
        if exprs:
            samples.append(ProbeSample(probe.name, probe.title, f"{text}; {OUTSIDE}", wide, exprs))
        else:
            skipped.append(Skipped(probe.name, probe.title, "none of its expressions fits the model's input length"))
    return samples, skipped


def _answer(answer: ProbeAnswerer, sample: ProbeSample) -> np.ndarray:
    return answer_all(lambda exprs: answer(sample.task, exprs), [sample.expressions])[0]


def run_probes(task: TaskConfig, kind: str, answer: ProbeAnswerer, fits: ProbeFits = lambda e, t: True,
               per_probe: int = DEFAULT_PER_PROBE, seed: int = 0,
               max_failures: int = DEFAULT_MAX_FAILURES) -> GeneralisationReport:
    """The probes with any ``answer`` function (called once per probe, with its widened task)."""
    check_search_options(0.0, per_probe, seed, max_failures)
    samples, skipped = probe_examples(task, kind, fits, per_probe, seed)
    results = tuple(score(s.name, s.title, s.description, s.expressions, _answer(answer, s), task.operations,
                          max_failures) for s in samples)
    return GeneralisationReport(per_probe, seed, results, tuple(skipped))


def probe_generalisation(model: Model, task: TaskConfig, per_probe: int = DEFAULT_PER_PROBE, seed: int = 0,
                         max_failures: int = DEFAULT_MAX_FAILURES) -> GeneralisationReport:
    """``model`` (trained on ``task``) on every probe it can take. Reads the model only (see
    ``answer_expressions``); the same arguments give the same report."""
    return run_probes(task, model.config.kind, lambda wide, exprs: answer_expressions(model, wide, exprs),
                      lambda e, wide: model.fits(e, wide), per_probe, seed, max_failures)


__all__ = ["OUTSIDE", "PROBES", "GeneralisationReport", "ProbeResult", "ProbeSample", "probe_examples",
           "probe_generalisation", "run_probes"]
