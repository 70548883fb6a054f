"""Counterexample search: where, among inputs people actually type, a model falls below a threshold.

A test split is drawn like the training data (numbers uniform over the range), so it rarely holds
what a person types first: small numbers, all-equal arguments, ties, sorted lists, the app's own
examples. Each *region* here is a named, seeded generator of such inputs — always valid expressions
of the model's task that fit the model — and the search reports the model's accuracy on each,
by operation, with a few of the wrong answers, and which regions are *weak* (below the threshold).

    find_counterexamples(model, task)                         → CounterexampleReport
    search_counterexamples(task, answer, fits)                 the same with any answerer (an oracle in tests)
    region_examples(task, per_region=200, seed=0, fits=...)   the generated examples alone

Answers come from the evaluation's own path (``core.train.evaluation.evaluate``: the encoder's most
likely class, the decoder's greedy generation), all regions in one batched split, so a region's
accuracy is what ``workbench eval`` would report on those expressions.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.data.batching import encode_examples
from core.data.dataset import Example
from core.data.expression import Expression, modulus_of, parse_expression
from core.data.operations import MIN_ARGS
from core.data.task import TaskConfig
from core.errors import ConfigError, ExpressionError
from core.nn.models.factory import Model
from core.train.evaluation import evaluate
from core.validation import MAX_SEED

DEFAULT_THRESHOLD = 0.99
DEFAULT_PER_REGION = 200
DEFAULT_MAX_FAILURES = 5
MAX_PER_REGION = 10_000
DRAWS_PER_EXAMPLE = 20  # draw budget per wanted example: a small region is then (almost surely) found whole

#: what the app shows and the lessons use: the inputs a learner types first
APP_EXAMPLES: tuple[str, ...] = (
    "Max(3, 7, 2)", "First(2, 8, 4)", "Max(5, 3, 9)", "Max(3, 7, 9)", "Second(4, 7, 1)", "Max(7, 2, 7)",
    "Max(0, 0, 0)", "Last(1, 1, 9)", "First(9, 1, 1)", "Max(4, 4)", "First(2, 8)", "Last(2, 8)", "Min(5, 1)",
    "Max(5, 42)", "Max(3, 42, 7)", "Max(31, 75, 2)", "Min(12, 5, 80, 7)", "Max(57, 55, 56)",
    "Max(First(2, 8), Min(5, 1))",
)

Args = tuple[int | Expression, ...]
#: draws one expression's arguments for (rng, operation, argument count, task); None rejects the draw
ArgsDraw = Callable[[np.random.Generator, str, int, TaskConfig], Args | None]
#: the answers (−1 = none) a model gives to expressions of a task
Answerer = Callable[[Sequence[Expression]], np.ndarray]


# -- results ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Failure:
    """One wrong answer, ready to be opened in the inference console."""

    expression: str
    expected: int
    answer: int | None  # None: the decoder produced no valid number

    def to_dict(self) -> dict[str, Any]:
        return {"expression": self.expression, "expected": self.expected, "answer": self.answer}


@dataclass(frozen=True)
class RegionResult:
    """The model's accuracy on one region's examples (also a generalisation probe's, see
    ``core.probe.generalisation``)."""

    name: str
    title: str
    description: str
    n: int
    correct: int
    by_operation: dict[str, float]
    by_n_args: dict[int, float]
    failures: tuple[Failure, ...]

    @property
    def accuracy(self) -> float:
        return self.correct / self.n

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "description": self.description, "n": self.n,
                "accuracy": self.accuracy, "by_operation": self.by_operation,
                "by_n_args": {str(k): v for k, v in self.by_n_args.items()},
                "failures": [f.to_dict() for f in self.failures]}


@dataclass(frozen=True)
class Skipped:
    """A region (or probe) that could not run for this task or model, and why, in words."""

    name: str
    title: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "title": self.title, "reason": self.reason}


@dataclass(frozen=True)
class CounterexampleReport:
    threshold: float
    per_region: int
    seed: int
    regions: tuple[RegionResult, ...]
    skipped: tuple[Skipped, ...] = ()

    @property
    def weak(self) -> list[str]:
        """Names of the regions whose accuracy is below the threshold, in region order."""
        return [r.name for r in self.regions if r.accuracy < self.threshold]

    def region(self, name: str) -> RegionResult:
        for r in self.regions:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "per_region": self.per_region, "seed": self.seed,
                "regions": [r.to_dict() for r in self.regions], "weak": self.weak,
                "skipped": [s.to_dict() for s in self.skipped]}


# -- regions ---------------------------------------------------------------------------------------------
def small_bound(task: TaskConfig) -> int:
    """The largest "small" number: 9 for a 0–99 task (one digit), 3 for a 0–9 task."""
    return 9 if task.max_value >= 99 else 3


def big_bound(task: TaskConfig) -> int:
    """The smallest "big" number: 50 for a 0–99 task, 7 for a 0–9 task."""
    return 50 if task.max_value >= 99 else 7


@dataclass(frozen=True)
class Region:
    """A named family of inputs. ``description`` is formatted with ``small``, ``big`` and ``max``;
    ``unavailable`` says why a task has no such inputs (None: it has)."""

    name: str
    title: str
    description: str
    draw: ArgsDraw | None  # None: a fixed list (``fixed``) instead of random draws
    min_args: int = 1
    operations: tuple[str, ...] | None = None  # None: all the task's operations
    unavailable: Callable[[TaskConfig], str | None] = lambda task: None
    fixed: Callable[[TaskConfig], list[Expression]] | None = None

    def describe(self, task: TaskConfig) -> str:
        return self.description.format(small=small_bound(task), big=big_bound(task), max=task.max_value)


@dataclass(frozen=True)
class RegionSample:
    """A region's generated examples (distinct, valid for the task, fitting the model)."""

    region: Region
    description: str
    expressions: list[Expression]


def _values(rng: np.random.Generator, lo: int, hi: int, k: int) -> list[int]:
    return rng.integers(lo, hi + 1, size=k).tolist()


def answer_index(op: str, values: Sequence[int]) -> int:
    """Where the answer sits: the operation's position, or the first max/min."""
    if op in ("Max", "Min"):
        return list(values).index(max(values) if op == "Max" else min(values))
    return {"First": 0, "Second": 1, "Last": len(values) - 1}[op]


def _small(rng: np.random.Generator, op: str, k: int, task: TaskConfig) -> Args:
    return tuple(_values(rng, 0, small_bound(task), k))


def _one_big(rng: np.random.Generator, op: str, k: int, task: TaskConfig) -> Args:
    values = _values(rng, 0, small_bound(task), k)
    values[int(rng.integers(k))] = int(rng.integers(big_bound(task), task.max_value + 1))
    return tuple(values)


def _all_equal(rng: np.random.Generator, op: str, k: int, task: TaskConfig) -> Args:
    return (int(rng.integers(0, task.max_value + 1)),) * k


def _tie(rng: np.random.Generator, op: str, k: int, task: TaskConfig) -> Args | None:
    values = _values(rng, 0, task.max_value, k)
    at = answer_index(op, values)
    other = int(rng.choice([i for i in range(k) if i != at]))
    values[other] = values[at]  # a copy of the answer: a tie that keeps the answer
    return None if len(set(values)) == 1 else tuple(values)


def _close(rng: np.random.Generator, op: str, k: int, task: TaskConfig) -> Args | None:
    base = int(rng.integers(0, task.max_value - 1))
    values = [base + v for v in _values(rng, 0, 2, k)]
    return None if len(set(values)) == 1 else tuple(values)


def _ascending(rng: np.random.Generator, op: str, k: int, task: TaskConfig) -> Args:
    return tuple(sorted(int(v) for v in rng.choice(task.max_value + 1, size=k, replace=False)))


def _descending(rng: np.random.Generator, op: str, k: int, task: TaskConfig) -> Args:
    return _ascending(rng, op, k, task)[::-1]


def _answer_at(first: bool) -> ArgsDraw:
    def draw(rng: np.random.Generator, op: str, k: int, task: TaskConfig) -> Args | None:
        values = _values(rng, 0, task.max_value, k)
        at = answer_index(op, values)
        if values.count(values[at]) > 1:  # a tie: the answer has no single position
            return None
        to = 0 if first else k - 1
        values[at], values[to] = values[to], values[at]
        return tuple(values)
    return draw


def _extremes(rng: np.random.Generator, op: str, k: int, task: TaskConfig) -> Args:
    values = _values(rng, 0, task.max_value, k)
    low, high = rng.choice(k, size=2, replace=False).tolist()
    values[low], values[high] = 0, task.max_value
    return tuple(values)


def _two_digit(rng: np.random.Generator, op: str, k: int, task: TaskConfig) -> Args:
    return tuple(_values(rng, 10, task.max_value, k))


def nested_expression(rng: np.random.Generator, task: TaskConfig, depth: int, op: str | None = None,
                      k: int | None = None) -> Expression:
    """An expression nesting exactly ``depth`` levels: one argument (at a random place) is nested
    ``depth − 1`` levels, the others are numbers. Operations and argument counts are the task's."""
    if op is None:
        op = task.operations[int(rng.integers(len(task.operations)))]
    if k is None:
        lo, hi = task.arg_range(op)
        k = int(rng.integers(lo, hi + 1))
    args: list[int | Expression] = list(_values(rng, 0, task.max_value, k))
    if depth > 1:
        args[int(rng.integers(k))] = nested_expression(rng, task, depth - 1)
    return Expression(op, tuple(args), modulus_of(op, task))


def _deep(rng: np.random.Generator, op: str, k: int, task: TaskConfig) -> Args:
    return nested_expression(rng, task, task.max_depth, op, k).args


def app_expressions(task: TaskConfig) -> list[Expression]:
    """The app's examples valid in ``task``, then the same arguments under each of its operations
    (what a person tries next: "and Min(3, 7, 2)?"), each once."""
    found: dict[Expression, None] = {}
    for text in APP_EXAMPLES:
        args = parse_expression(text).args
        for op in (parse_expression(text).op, *task.operations):
            try:
                found.setdefault(parse_expression(str(Expression(op, args)), task))
            except ExpressionError:  # outside the task (value, argument count, nesting), or Second(x)
                continue
    return list(found)


def _needs_two_digits(task: TaskConfig) -> str | None:
    return None if task.max_value >= 99 else "the task's numbers go only to 9"


def _needs_nesting(task: TaskConfig) -> str | None:
    return None if task.max_depth > 1 else "the task does not nest expressions"


REGIONS: tuple[Region, ...] = (
    Region("small_numbers", "small numbers", "every number is at most {small}", _small),
    Region("one_big", "one big number among small ones",
           "one number from {big} to {max}, the others at most {small}", _one_big, min_args=2),
    Region("all_equal", "all equal", "every argument is the same number", _all_equal, min_args=2),
    Region("ties", "ties for the answer",
           "the answer's value occurs at least twice (not all arguments equal)", _tie, min_args=3),
    Region("close_values", "close values", "all numbers within 2 of each other, not all equal", _close,
           min_args=2),
    Region("sorted_ascending", "sorted ascending", "the numbers strictly increase", _ascending, min_args=3),
    Region("sorted_descending", "sorted descending", "the numbers strictly decrease", _descending, min_args=3),
    Region("answer_first", "answer first", "Max/Min whose answer is the first argument, and only it",
           _answer_at(True), min_args=2, operations=("Max", "Min")),
    Region("answer_last", "answer last", "Max/Min whose answer is the last argument, and only it",
           _answer_at(False), min_args=2, operations=("Max", "Min")),
    Region("extremes", "extremes", "both 0 and {max} are among the arguments", _extremes, min_args=2),
    Region("two_digit_only", "two-digit only", "every number from 10 to {max}", _two_digit,
           unavailable=_needs_two_digits),
    Region("deep_nesting", "deep nesting", "nested as deep as the task allows", _deep,
           unavailable=_needs_nesting),
    Region("app_examples", "the app's examples",
           "the examples the app and lessons show, and their arguments under every operation", None,
           fixed=app_expressions),
)


# -- generation ------------------------------------------------------------------------------------------
def region_rng(seed: int, name: str) -> np.random.Generator:
    """Each region its own stream, from the seed and its name: adding a region changes no other."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def collect_distinct(draw: Callable[[], Expression | None], n: int, fits: Callable[[Expression], bool],
                     budget: int) -> list[Expression]:
    """Up to ``n`` distinct drawn expressions that ``fits``, in draw order, within ``budget`` draws."""
    found: dict[Expression, None] = {}
    for _ in range(budget):
        if len(found) >= n:
            break
        expr = draw()
        if expr is not None and expr not in found and fits(expr):
            found[expr] = None
    return list(found)


def _plan(region: Region, task: TaskConfig) -> tuple[list[tuple[str, int, int]], str | None]:
    """The (operation, fewest, most arguments) the region draws from in this task, or why none."""
    reason = region.unavailable(task)
    if reason is not None:
        return [], reason
    ops = [op for op in task.operations if region.operations is None or op in region.operations]
    if not ops:
        return [], f"it needs {' or '.join(region.operations or ())}, which the task does not use"
    plan = []
    for op in ops:
        lo, hi = task.arg_range(op)
        lo = max(lo, region.min_args, MIN_ARGS[op])
        if lo <= hi:
            plan.append((op, lo, hi))
    if not plan:
        return [], f"it needs at least {region.min_args} arguments; the task has at most {task.max_args}"
    return plan, None


def _draw_region(region: Region, task: TaskConfig, n: int, seed: int,
                 fits: Callable[[Expression], bool]) -> list[Expression]:
    if region.fixed is not None:
        return [e for e in region.fixed(task) if fits(e)][:n]
    assert region.draw is not None
    plan, _ = _plan(region, task)
    rng, draw_args = region_rng(seed, region.name), region.draw
    turn = itertools.count()

    def draw() -> Expression | None:
        op, lo, hi = plan[next(turn) % len(plan)]  # operations in turn, as the dataset balances them
        args = draw_args(rng, op, int(rng.integers(lo, hi + 1)), task)
        return None if args is None else Expression(op, args, modulus_of(op, task))

    return collect_distinct(draw, n, fits, n * DRAWS_PER_EXAMPLE)


def region_examples(task: TaskConfig, per_region: int = DEFAULT_PER_REGION, seed: int = 0,
                    fits: Callable[[Expression], bool] = lambda e: True,
                    ) -> tuple[list[RegionSample], list[Skipped]]:
    """Each region's examples for ``task`` (at most ``per_region``, distinct, each passing ``fits``),
    and the regions this task has no inputs for, with the reason."""
    check_search_options(DEFAULT_THRESHOLD, per_region, seed)
    samples: list[RegionSample] = []
    skipped: list[Skipped] = []
    for region in REGIONS:
        reason = None if region.fixed is not None else _plan(region, task)[1]
        if task.list_valued:
            reason = "the task's answers are lists (Sort); the regions are scored by one number per expression"
        exprs = [] if reason else _draw_region(region, task, per_region, seed, fits)
        if not reason and not exprs:
            reason = ("none of the app's examples is valid in this task and fits the model"
                      if region.fixed is not None else "none of its expressions fits the model's input length")
        if reason:
            skipped.append(Skipped(region.name, region.title, reason))
        else:
            samples.append(RegionSample(region, region.describe(task), exprs))
    return samples, skipped


# -- answering and scoring -------------------------------------------------------------------------------
def answer_expressions(model: Model, task: TaskConfig, expressions: Sequence[Expression]) -> np.ndarray:
    """The answers (−1: none) ``model`` gives, exactly as the evaluation computes them, in batches.

    ``task`` is the one the expressions are encoded for: the model's own, or a wider one for a probe
    (its operations in the model's order; an encoder's answers must stay within its classes). The model
    is only read, but a forward overwrites its caches: give a copy if another thread uses it."""
    examples = [Example(e, e.evaluate()) for e in expressions]
    split = encode_examples(examples, task, model.config.kind)
    return evaluate(model, split).predictions


def score(name: str, title: str, description: str, expressions: Sequence[Expression], answers: np.ndarray,
          operations: Iterable[str], max_failures: int) -> RegionResult:
    """Accuracy overall, by operation and argument count, and the first ``max_failures`` wrong answers."""
    truth = np.array([e.evaluate() for e in expressions], dtype=np.int64)
    answers = np.asarray(answers, dtype=np.int64)
    if answers.shape != truth.shape:
        raise ConfigError(f"expected {truth.size} answers, got {answers.size}")
    right = answers == truth
    ops = np.array([e.op for e in expressions])
    nargs = np.array([e.n_args for e in expressions])
    by_op = {op: float(right[ops == op].mean()) for op in operations if (ops == op).any()}
    by_n = {int(k): float(right[nargs == k].mean()) for k in np.unique(nargs)}
    failures = tuple(Failure(str(expressions[i]), int(truth[i]), int(answers[i]) if answers[i] >= 0 else None)
                     for i in np.flatnonzero(~right)[:max_failures])
    return RegionResult(name, title, description, len(expressions), int(right.sum()), by_op, by_n, failures)


def answer_all(answer: Answerer, groups: Sequence[Sequence[Expression]]) -> list[np.ndarray]:
    """One ``answer`` call for every group together (one batched split), split back per group."""
    flat = [e for g in groups for e in g]
    if not flat:
        return [np.zeros(0, dtype=np.int64) for _ in groups]
    answers = np.asarray(answer(flat), dtype=np.int64)
    if answers.shape != (len(flat),):
        raise ConfigError(f"the answerer gave {answers.size} answers for {len(flat)} expressions")
    bounds = np.cumsum([0, *(len(g) for g in groups)])
    return [answers[a:b] for a, b in itertools.pairwise(bounds)]


def check_search_options(threshold: float, per_region: int, seed: int, max_failures: int = 0) -> None:
    """One-line errors for values the search cannot use."""
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"threshold must be between 0 and 1, got {threshold!r}")
    for label, value, lo, hi in (("per_region", per_region, 1, MAX_PER_REGION), ("seed", seed, 0, MAX_SEED),
                                 ("max_failures", max_failures, 0, MAX_PER_REGION)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or not lo <= value <= hi:
            raise ConfigError(f"{label} must be an integer from {lo:,} to {hi:,}, got {value!r}")


def search_counterexamples(task: TaskConfig, answer: Answerer, fits: Callable[[Expression], bool] = lambda e: True,
                           threshold: float = DEFAULT_THRESHOLD, per_region: int = DEFAULT_PER_REGION,
                           seed: int = 0, max_failures: int = DEFAULT_MAX_FAILURES) -> CounterexampleReport:
    """The search with any ``answer`` function (called once, with every region's expressions)."""
    check_search_options(threshold, per_region, seed, max_failures)
    samples, skipped = region_examples(task, per_region, seed, fits)
    answers = answer_all(answer, [s.expressions for s in samples])
    regions = tuple(score(s.region.name, s.region.title, s.description, s.expressions, a, task.operations,
                          max_failures) for s, a in zip(samples, answers, strict=True))
    return CounterexampleReport(float(threshold), per_region, seed, regions, tuple(skipped))


def find_counterexamples(model: Model, task: TaskConfig, threshold: float = DEFAULT_THRESHOLD,
                         per_region: int = DEFAULT_PER_REGION, seed: int = 0,
                         max_failures: int = DEFAULT_MAX_FAILURES) -> CounterexampleReport:
    """Every region of ``task`` answered by ``model``: accuracy, by operation, a few failures, and which
    regions are below ``threshold``. The same arguments give the same report."""
    return search_counterexamples(task, lambda exprs: answer_expressions(model, task, exprs),
                                  lambda e: model.fits(e, task), threshold, per_region, seed, max_failures)


__all__ = ["APP_EXAMPLES", "REGIONS", "CounterexampleReport", "Failure", "Region", "RegionResult",
           "RegionSample", "Skipped", "answer_expressions", "find_counterexamples", "region_examples",
           "search_counterexamples"]

