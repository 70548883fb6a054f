"""Datasets of (expression, answer) examples: seeded generation with disjoint splits, and a JSON file
format that is checked line by line when loaded.

Splits are disjoint by expression so that validation and test accuracy measure generalisation, not
memorisation: val and test hold distinct expressions, and train is drawn (with replacement — small
tasks have fewer distinct expressions than training examples) from everything outside val ∪ test.
Val and test are drawn first, so changing ``n_train`` leaves them unchanged for the same seed.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.budget import check_budget
from core.data.expression import Expression
from core.data.features import answer_position, has_tie, two_digit_count
from core.data.operations import Answer
from core.data.sampling import ExpressionSampler, ExprKey, count_flat_expressions
from core.data.stratified import HeldOutCap, StratifiedSampler
from core.data.task import TaskConfig
from core.errors import ConfigError, DatasetError
from core.validation import MAX_SEED, Option, option_defaults, validate_options

FORMAT = "llmlearn-dataset"
VERSION = 1
SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test")

MAX_TRAIN = 10_000_000
MAX_HELD_OUT = 1_000_000

ProgressCallback = Callable[[int, int], None]
Sampler = ExpressionSampler | StratifiedSampler

#: how expressions are drawn (``core.data.stratified`` and ``core.data.sampling``); files and checkpoints
#: saved before strategies existed were uniform, so a config without one reads as "uniform"
STRATEGIES: tuple[str, ...] = ("stratified", "uniform", "all")
#: the "all" strategy enumerates the task's expressions: at most this many
MAX_ENUMERATED = 1_000_000
LEGACY_STRATEGY = "uniform"


@dataclass(frozen=True, slots=True)
class Example:
    """One expression and its answer. Immutable, so identical examples can share one object."""

    expression: Expression
    answer: Answer  # a number, or a tuple of numbers for a list-valued operation (Sort)

    @property
    def text(self) -> str:
        """Canonical text, e.g. ``Max(5, 3, 9)``."""
        return str(self.expression)


#: The dataset's options besides the task (see ``core.validation.Option``), in the order they are checked.
DATASET_OPTIONS: tuple[Option, ...] = (
    Option("strategy", "choice", "stratified", "strategy",
           "stratified: every answer value, answer position, digit count, tie and depth well represented; "
           "uniform: every number drawn uniformly (small numbers then rare in 0–99 tasks); "
           "all: every expression of a small flat task exactly once, shuffled, cut into test, val and train "
           "(modular addition: a share of all pairs to train on)",
           choices=STRATEGIES),
    Option("n_train", "int", 10_000, "n_train",
           "training examples (drawn with replacement; distinct with the strategy all)", 1, MAX_TRAIN),
    Option("n_val", "int", 1_000, "n_val", "validation examples (distinct, held out)", 0, MAX_HELD_OUT),
    Option("n_test", "int", 1_000, "n_test", "test examples (distinct, held out)", 0, MAX_HELD_OUT),
    Option("data_seed", "int", 0, "data seed", "the same task, sizes and seed give the same dataset", 0, MAX_SEED,
           field="seed"),
)

_DEFAULT = option_defaults(DATASET_OPTIONS)


#: How the splits are drawn from the seed (``DatasetConfig.layout``):
#:   1  one random stream: validation, then test, then training (configs saved before 2026-12-03), so a
#:      different validation size changed the test examples;
#:   2  a stream per split (seeded from the seed and the split's name): test first, then validation
#:      (never a test expression), then training (neither) — the test examples depend only on the task,
#:      n_test and the seed, so runs with different validation or training sizes are tested alike.
LAYOUTS = (1, 2)
LEGACY_LAYOUT = 1


@dataclass(frozen=True)
class DatasetConfig:
    """Everything needed to regenerate a dataset exactly: the task, split sizes, the seed, how
    expressions are drawn (``strategy``) and how the splits are drawn from the seed (``layout``)."""

    task: TaskConfig = field(default_factory=TaskConfig)
    n_train: int = _DEFAULT["n_train"]
    n_val: int = _DEFAULT["n_val"]
    n_test: int = _DEFAULT["n_test"]
    seed: int = _DEFAULT["seed"]
    strategy: str = _DEFAULT["strategy"]
    layout: int = 2

    def __post_init__(self) -> None:
        if not isinstance(self.task, TaskConfig):
            raise ConfigError(f"task must be a TaskConfig, got {type(self.task).__name__}")
        if isinstance(self.layout, bool) or self.layout not in LAYOUTS:
            raise ConfigError(f"layout must be one of {', '.join(map(str, LAYOUTS))}, got {self.layout!r}")
        validate_options(self, DATASET_OPTIONS)
        check_budget(self.estimated_bytes(), "this dataset", "ask for fewer examples (n_train, n_val, n_test)")

    def estimated_bytes(self) -> int:
        """Memory the generated and encoded splits need, on the high side (measured 1.0–1.4× the
        tracemalloc peak of generating and encoding a split)::

            every example   128 + 8·T bytes   its slot in the split, its encoded row of T int64 tokens
                                              (T = the longest expression plus a decoder's answer and
                                              "="), five int64 metadata columns, the encoder's indices
            every distinct  400 + 56·T bytes  its Expression objects and the Python row it is encoded from
            expression

        Identical examples share one object and are encoded once, so a small task (0–9, three
        arguments: 5,000 expressions) holding millions of examples needs only their rows."""
        task = self.task
        n = self.n_train + self.n_val + self.n_test
        t = task.max_expression_tokens + task.max_answer_tokens + 1
        distinct = n if task.max_depth > 1 else min(n, sum(count_flat_expressions(task).values()))
        return n * (128 + 8 * t) + distinct * (400 + 56 * t)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task.to_dict(),
            "n_train": self.n_train,
            "n_val": self.n_val,
            "n_test": self.n_test,
            "seed": self.seed,
            "strategy": self.strategy,
            "layout": self.layout,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetConfig:
        """Rebuild from ``to_dict()`` output; every key is required (but ``strategy`` and ``layout``, which
        configs saved before they existed lack: they were uniform, and drawn with layout 1) and no other key
        is allowed."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"a dataset config must be a JSON object, got {type(data).__name__}")
        expected = ["task", "n_train", "n_val", "n_test", "seed", "strategy", "layout"]
        data = {"strategy": LEGACY_STRATEGY, "layout": LEGACY_LAYOUT, **data}
        missing = [k for k in expected if k not in data]
        if missing:
            raise ConfigError(f"dataset config is missing {', '.join(missing)}")
        extra = sorted(str(k) for k in data if k not in expected)
        if extra:
            raise ConfigError(f"dataset config has unknown keys: {', '.join(extra)}")
        task = TaskConfig.from_dict(data["task"])
        return cls(task, data["n_train"], data["n_val"], data["n_test"], data["seed"], data["strategy"],
                   data["layout"])


@dataclass(repr=False)
class Dataset:
    """The three splits of a generated (or loaded) dataset and the config that produced them."""

    config: DatasetConfig
    train: list[Example]
    val: list[Example]
    test: list[Example]

    def __repr__(self) -> str:  # the default would print every example
        return (
            f"Dataset({self.config.task.describe()}, train={len(self.train)}, val={len(self.val)}, "
            f"test={len(self.test)}, seed={self.config.seed})"
        )

    def split(self, name: str) -> list[Example]:
        """The examples of split ``name`` ("train", "val" or "test")."""
        if name not in SPLIT_NAMES:
            raise DatasetError(f"unknown split {name!r}; the splits are {', '.join(SPLIT_NAMES)}")
        return getattr(self, name)

    def stats(self, split_name: str) -> dict[str, Any]:
        """Counts for a preview pane — the dataset's coverage: examples, distinct expressions, and
        histograms by operation, top-level argument count, expression token length, answer, position of
        the answer among the arguments, two-digit numbers per expression (0–99 tasks), ties and nesting
        depth (zero-filled where a value is possible but absent, so bars line up across splits)."""
        examples = self.split(split_name)
        task = self.config.task
        # Group by object identity first: identical examples usually share one object, so each
        # distinct one is measured once even in a million-example split.
        multiplicity = Counter(map(id, examples))
        unique = {id(e): e for e in examples}
        by_op: Counter[str] = Counter({op: 0 for op in task.operations})
        lo = min(task.arg_range(op)[0] for op in task.operations)
        by_nargs: Counter[int] = Counter({k: 0 for k in range(lo, task.max_args + 1)})
        by_len: Counter[int] = Counter()
        by_answer: Counter[int] = Counter({v: 0 for v in range(task.num_classes)})
        by_position: Counter[int] = Counter({k: 0 for k in range(task.max_args)})
        by_two_digit: Counter[int] = Counter()
        by_tie: Counter[str] = Counter({"no tie": 0, "tie": 0})
        by_depth: Counter[int] = Counter({d: 0 for d in range(1, task.max_depth + 1)})
        distinct: set[Expression] = set()
        for key, count in multiplicity.items():
            ex = unique[key]
            expr = ex.expression
            by_op[expr.op] += count
            by_nargs[expr.n_args] += count
            by_len[len(expr.tokens())] += count
            if isinstance(ex.answer, int):  # a list answer (Sort) has no bar of its own
                by_answer[ex.answer] += count
            by_position[answer_position(expr)] += count
            by_two_digit[two_digit_count(expr)] += count
            by_tie["tie" if has_tie(expr) else "no tie"] += count
            by_depth[expr.depth] += count
            distinct.add(expr)
        out = {
            "n": len(examples),
            "distinct": len(distinct),
            "by_operation": dict(by_op),
            "by_n_args": dict(sorted(by_nargs.items())),
            "token_lengths": dict(sorted(by_len.items())),
            "by_answer": dict(sorted(by_answer.items())),
            "by_answer_position": dict(sorted(by_position.items())),
            "by_tie": dict(by_tie),
            "by_depth": dict(sorted(by_depth.items())),
        }
        if task.max_value >= 10:
            out["by_two_digit_numbers"] = {k: by_two_digit[k] for k in range(max(by_two_digit, default=0) + 1)}
        return out


# ---------------------------------------------------------------------------------------------------
# Generation.


class _Progress:
    def __init__(self, callback: ProgressCallback | None, total: int) -> None:
        self.callback = callback
        self.total = total
        self.done = 0
        if callback is not None:
            callback(0, total)

    def advance(self, n: int) -> None:
        self.done += n
        if self.callback is not None:
            self.callback(self.done, self.total)


def _chunk_size(n: int) -> int:
    """Examples drawn per NumPy call: ~1% of the split, between 256 and 10,000.

    Depends only on the split's own size, so val/test stay identical when n_train changes.
    """
    return min(10_000, max(256, -(-n // 100)))


def _share(n: int, op_index: int, n_ops: int) -> int:
    """How many of ``n`` examples get operation ``op_index`` when example i gets i % n_ops."""
    return n // n_ops + (1 if op_index < n % n_ops else 0)


def _check_space(config: DatasetConfig) -> None:
    """Refuse configs whose val + test would use over half of some operation's expressions: the
    rejection sampling would crawl and train would be left with little to learn from."""
    task = config.task
    n_ops = len(task.operations)
    space = count_flat_expressions(task)
    for j, op in enumerate(task.operations):
        need = _share(config.n_val, j, n_ops) + _share(config.n_test, j, n_ops)
        if 2 * need > space[op]:
            kind = "flat " if task.max_depth > 1 else ""
            raise DatasetError(
                f"the task {task.describe()} has only {space[op]:,} distinct {kind}{op} expressions, "
                f"but n_val={config.n_val:,} and n_test={config.n_test:,} need {need:,} distinct ones "
                f"of them, more than half; lower n_val/n_test or widen the task "
                f"(more arguments or max_value 99)"
            )


def _draw_split(
    rng: np.random.Generator,
    sampler: Sampler,
    n: int,
    forbidden: set[ExprKey],
    distinct: bool,
    progress: _Progress,
    cap: HeldOutCap | None = None,
) -> list[ExprKey]:
    """Draw ``n`` keys, balanced over operations, none in ``forbidden``; when ``distinct``, each
    accepted key joins ``forbidden`` so it is neither repeated nor reused by a later split. A ``cap``
    (stratified held-out splits) refuses keys of strata the split already holds its share of."""
    n_ops = len(sampler.task.operations)
    keys: list[ExprKey] = []
    budget = 50 * n + 10_000  # draws allowed before giving up; the space check keeps us far below
    chunk = _chunk_size(n)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        pending = np.arange(start, stop, dtype=np.int64) % n_ops
        while pending.size:
            budget -= pending.size
            if budget < 0:
                raise DatasetError(
                    f"could not draw {n:,} examples outside the {len(forbidden):,} reserved expressions; "
                    f"the task's expression space is too small for these split sizes"
                )
            drawn = sampler.draw(rng, pending)
            if distinct:
                rejected: list[int] = []
                for key in drawn:
                    if key in forbidden or (cap is not None and not cap.admit(key)):
                        rejected.append(key[0])
                    else:
                        forbidden.add(key)
                        keys.append(key)
            else:
                keys.extend([key for key in drawn if key not in forbidden])
                rejected = [key[0] for key in drawn if key in forbidden] if len(keys) < stop else []
            pending = np.asarray(rejected, dtype=np.int64)
        progress.advance(stop - start)
    order = rng.permutation(n)
    return [keys[i] for i in order.tolist()]


class _ExampleBuilder:
    """Keys → Examples, one shared object per distinct key: a million-example train split of a small
    task holds only a few thousand distinct expressions, so this saves most of the time and memory."""

    def __init__(self, sampler: Sampler) -> None:
        self.sampler = sampler
        self.table: dict[ExprKey, Example] = {}

    def build(self, keys: list[ExprKey]) -> list[Example]:
        table = self.table
        for key in dict.fromkeys(keys):
            if key not in table:
                expr = self.sampler.build(key)
                table[key] = Example(expr, expr.answer())
        return [table[key] for key in keys]


def make_sampler(config: DatasetConfig) -> Sampler:
    """The sampler of the config's strategy."""
    return StratifiedSampler(config.task) if config.strategy == "stratified" else ExpressionSampler(config.task)


def generate_dataset(config: DatasetConfig, progress: ProgressCallback | None = None) -> Dataset:
    """Generate the dataset ``config`` describes; the same config always gives the same dataset.

    Operations are balanced (counts differ by at most one per split), argument counts uniform in each
    op's range; the numbers are drawn as ``config.strategy`` says (``StratifiedSampler``: built from a
    uniformly drawn answer, see ``core.data.stratified``; ``ExpressionSampler``: uniform in
    0..max_value). The held-out splits are drawn first and the training split never holds one of their
    expressions; with ``layout`` 2 each split has its own stream, so the test split depends only on the
    task, n_test and the seed (see ``LAYOUTS``). ``progress(done, total)`` is called at the start and then
    every ~1% of a split (at most every 10,000 examples).
    """
    if not isinstance(config, DatasetConfig):
        raise TypeError(f"generate_dataset needs a DatasetConfig, got {type(config).__name__}")
    if config.strategy == "all":
        return _enumerated_dataset(config, progress)
    _check_space(config)
    sampler = make_sampler(config)
    tracker = _Progress(progress, config.n_val + config.n_test + config.n_train)
    held_out: set[ExprKey] = set()
    def cap(n: int) -> HeldOutCap | None:
        return HeldOutCap(config.task, n) if config.strategy == "stratified" else None

    if config.layout == LEGACY_LAYOUT:
        rng = np.random.default_rng(config.seed)
        val = _draw_split(rng, sampler, config.n_val, held_out, True, tracker, cap(config.n_val))
        test = _draw_split(rng, sampler, config.n_test, held_out, True, tracker, cap(config.n_test))
        train = _draw_split(rng, sampler, config.n_train, held_out, False, tracker)
    else:
        rngs = {name: np.random.default_rng([config.seed, i]) for i, name in enumerate(SPLIT_NAMES, start=1)}
        test = _draw_split(rngs["test"], sampler, config.n_test, held_out, True, tracker, cap(config.n_test))
        val = _draw_split(rngs["val"], sampler, config.n_val, held_out, True, tracker, cap(config.n_val))
        train = _draw_split(rngs["train"], sampler, config.n_train, held_out, False, tracker)
    builder = _ExampleBuilder(sampler)
    return Dataset(config, builder.build(train), builder.build(val), builder.build(test))


def enumerate_keys(task: TaskConfig) -> list[ExprKey]:
    """Every flat expression of ``task`` as a key, in a fixed order: operation, argument count, then
    the numbers in lexicographic order."""
    keys: list[ExprKey] = []
    values = range(task.max_value + 1)
    for j, op in enumerate(task.operations):
        lo, hi = task.arg_range(op)
        for k in range(lo, hi + 1):
            keys.extend((j, *args) for args in itertools.product(values, repeat=k))
    return keys


def _enumerated_dataset(config: DatasetConfig, progress: ProgressCallback | None) -> Dataset:
    """The "all" strategy: every flat expression exactly once, shuffled by the seed, then cut into test
    (first), val and train. Training is on a fixed share of the whole space — what grokking needs
    (modular addition: train on 40% of all pairs a + b, test on the rest)."""
    task = config.task
    if task.max_depth > 1:
        raise DatasetError("the strategy all enumerates flat expressions: set nesting to 1, or use stratified")
    space = sum(count_flat_expressions(task).values())
    if space > MAX_ENUMERATED:
        raise DatasetError(f"the task {task.describe()} has {space:,} expressions, too many to enumerate "
                           f"(at most {MAX_ENUMERATED:,}): use stratified, or a smaller task")
    wanted = config.n_test + config.n_val + config.n_train
    if wanted > space:
        raise DatasetError(f"the task {task.describe()} has {space:,} expressions, but n_train + n_val + n_test = "
                           f"{wanted:,}: with the strategy all each is used once, so lower them (at most "
                           f"{space:,} together)")
    tracker = _Progress(progress, wanted)
    sampler = ExpressionSampler(task)
    keys = enumerate_keys(task)
    order = np.random.default_rng([config.seed, 0]).permutation(len(keys))
    shuffled = [keys[i] for i in order[:wanted].tolist()]
    cut1, cut2 = config.n_test, config.n_test + config.n_val
    builder = _ExampleBuilder(sampler)
    test, val, train = (builder.build(part) for part in (shuffled[:cut1], shuffled[cut1:cut2], shuffled[cut2:]))
    tracker.advance(wanted)
    return Dataset(config, train, val, test)


# ---------------------------------------------------------------------------------------------------
# Files.
