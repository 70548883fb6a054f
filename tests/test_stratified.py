"""Stratified generation: every stratum in its intended share, answers exact by construction, splits
disjoint and seeded, and configs saved before strategies existed still mean uniform data."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from core.data.dataset import LEGACY_STRATEGY, DatasetConfig, generate_dataset
from core.data.expression import Expression
from core.data.features import answer_position, has_tie, two_digit_count
from core.data.stratified import CLOSE_SHARE, SMALL_SHARE, TIE_SHARE, StratifiedSampler, digit_balanced
from core.data.task import TaskConfig
from core.errors import ConfigError

WIDE = TaskConfig(max_value=99, min_args=2, max_args=5)
NESTED = TaskConfig(max_value=99, min_args=2, max_args=3, max_depth=3)


def _draw(task: TaskConfig, n: int, seed: int = 0) -> list[Expression]:
    sampler = StratifiedSampler(task)
    ops = np.arange(n) % len(task.operations)
    return [sampler.build(k) for k in sampler.draw(np.random.default_rng(seed), ops)]


def _share(flags: list[bool]) -> float:
    return sum(flags) / len(flags)


def test_the_default_strategy_is_stratified_and_a_config_without_one_is_uniform() -> None:
    assert DatasetConfig().strategy == "stratified"
    old = DatasetConfig().to_dict()
    del old["strategy"]
    assert DatasetConfig.from_dict(old).strategy == LEGACY_STRATEGY == "uniform"
    with pytest.raises(ConfigError, match="strategy must be one of stratified, uniform"):
        DatasetConfig(strategy="random")


def test_every_answer_value_is_about_equally_common_and_small_answers_more() -> None:
    exprs = _draw(WIDE, 60_000)
    answers = Counter(e.evaluate() for e in exprs)
    n = len(exprs)
    # answers 0–9 come from the "small" share and from the uniform answer of the others
    small = SMALL_SHARE / 10 + (1 - SMALL_SHARE) / 100
    big = (1 - SMALL_SHARE) / 100
    for v in range(100):
        expected = small if v < 10 else big
        assert answers[v] / n == pytest.approx(expected, rel=0.15), v


def test_single_digit_expressions_take_their_share_of_a_0_99_task() -> None:
    exprs = _draw(WIDE, 40_000)
    all_small = _share([two_digit_count(e) == 0 for e in exprs])
    # the small share, plus rows whose answer and other numbers happened to be single-digit
    assert SMALL_SHARE <= all_small <= SMALL_SHARE + 0.08
    # and every count of two-digit numbers, 0 to 5, is present in bulk
    counts = Counter(two_digit_count(e) for e in exprs)
    assert all(counts[k] > 0.03 * len(exprs) for k in range(6)), counts


def test_the_answer_position_of_max_and_min_is_uniform_per_argument_count() -> None:
    exprs = [e for e in _draw(WIDE, 60_000) if e.op in ("Max", "Min") and not has_tie(e)]
    for k in range(2, 6):
        of_k = [answer_position(e) for e in exprs if e.n_args == k]
        shares = np.bincount(of_k, minlength=k) / len(of_k)
        assert np.allclose(shares, 1 / k, atol=0.03), (k, shares)


def test_ties_and_close_values_take_their_share() -> None:
    exprs = _draw(WIDE, 40_000)
    ties = _share([has_tie(e) for e in exprs])
    assert TIE_SHARE <= ties <= TIE_SHARE + 0.1
    # where closeness by chance is rare: a large Max (a small Min) with three or more arguments
    max_min = [e for e in exprs if not has_tie(e) and e.n_args >= 3
               and ((e.op == "Max" and e.evaluate() >= 50) or (e.op == "Min" and 10 <= e.evaluate() < 50))]
    close = _share([max(abs(a - e.evaluate()) for a in e.args if isinstance(a, int)) <= 3 for e in max_min])
    assert close == pytest.approx(CLOSE_SHARE, abs=0.05)


def test_positional_operations_answer_where_they_should() -> None:
    for e in _draw(WIDE, 5_000):
        assert e.evaluate() == {"First": e.args[0], "Second": e.args[1], "Last": e.args[-1]}.get(e.op, e.evaluate())


def test_nesting_depth_is_uniform_and_nested_arguments_keep_the_answer() -> None:
    exprs = _draw(NESTED, 30_000)
    depths = Counter(e.depth for e in exprs)
    for d in (1, 2, 3):
        assert depths[d] / len(exprs) == pytest.approx(1 / 3, abs=0.02), depths
    answers = Counter(e.evaluate() for e in exprs)
    assert len(answers) == 100


def test_expressions_built_for_given_values_have_them_and_the_given_depth() -> None:
    sampler = StratifiedSampler(NESTED)
    rng = np.random.default_rng(1)
    values = rng.integers(0, 100, size=3_000)
    depths = rng.integers(1, 4, size=3_000)
    ops = rng.integers(0, 5, size=3_000)
    keys = sampler._draw(rng, ops, values, depths)
    built = [sampler.build(k) for k in keys]
    assert [e.evaluate() for e in built] == values.tolist()
    assert [e.depth for e in built] == depths.tolist()
    assert all(WIDE.arg_range(e.op)[0] <= e.n_args <= 3 for e in built)


def test_digit_balanced_stays_in_its_bounds_and_splits_digit_counts_evenly() -> None:
    rng = np.random.default_rng(2)
    lo = rng.integers(0, 100, size=50_000)
    hi = np.minimum(99, lo + rng.integers(0, 100, size=50_000))
    x = digit_balanced(rng, lo, hi)
    assert np.all((lo <= x) & (x <= hi))
    both = (lo <= 9) & (hi >= 10)
    assert np.mean(x[both] < 10) == pytest.approx(0.5, abs=0.02)


def test_stratified_splits_are_disjoint_seeded_and_balanced_over_operations() -> None:
    config = DatasetConfig(task=WIDE, n_train=5_000, n_val=500, n_test=500, seed=3)
    a, b = generate_dataset(config), generate_dataset(config)
    assert [e.text for e in a.train] == [e.text for e in b.train]
    val, test = {e.expression for e in a.val}, {e.expression for e in a.test}
    assert len(val) == 500 and len(test) == 500 and not val & test
    assert not {e.expression for e in a.train} & (val | test)
    ops = Counter(e.expression.op for e in a.train)
    assert max(ops.values()) - min(ops.values()) <= 1
    assert all(e.answer == e.expression.evaluate() for e in a.train)


def test_uniform_generation_is_unchanged_by_the_strategy_option() -> None:
    """The shipped models' datasets regenerate from their configs (uniform): the first examples of
    the original task with seed 0 are those the generator always produced."""
    uniform = generate_dataset(DatasetConfig(n_train=3, n_val=2, n_test=2, strategy="uniform"))
    stratified = generate_dataset(DatasetConfig(n_train=3, n_val=2, n_test=2))
    assert [e.text for e in uniform.val] != [e.text for e in stratified.val]
    legacy = DatasetConfig.from_dict({k: v for k, v in DatasetConfig(n_train=3, n_val=2, n_test=2,
                                                                     strategy="uniform").to_dict().items()
                                      if k != "strategy"})
    assert [e.text for e in generate_dataset(legacy).train] == [e.text for e in uniform.train]


def test_the_coverage_stats_count_every_example_once() -> None:
    data = generate_dataset(DatasetConfig(task=NESTED, n_train=4_000, n_val=200, n_test=200))
    s = data.stats("train")
    for key in ("by_answer", "by_answer_position", "by_tie", "by_depth", "by_two_digit_numbers"):
        assert sum(s[key].values()) == s["n"] == 4_000, key
    assert set(s["by_depth"]) == {1, 2, 3}


def test_held_out_splits_leave_training_half_of_every_small_stratum() -> None:
    """Without the cap, val and test took every Max with a small answer of the 0–9 task and a model
    never saw one in training (validation stuck at 91% on Max)."""
    data = generate_dataset(DatasetConfig())  # the original task: 0–9, three arguments
    def stratum(e: Expression) -> tuple[str, int]:
        return e.op, e.evaluate()
    space: Counter[tuple[str, int]] = Counter()
    for a in range(10):
        for b in range(10):
            for c in range(10):
                for op in ("Max", "Min"):
                    space[stratum(Expression(op, (a, b, c)))] += 1
    held = Counter(stratum(e.expression) for e in {*data.val, *data.test} if e.expression.op in ("Max", "Min"))
    for key, size in space.items():
        assert held[key] <= 2 * (size // 4), (key, held[key], size)
    trained = {stratum(e.expression) for e in data.train}
    assert set(space) <= trained
