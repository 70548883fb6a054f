"""Sum mod m and the "all" strategy: the data of modular addition (a + b mod p) and of Sum mod 10/100."""

from __future__ import annotations

from collections import Counter

import pytest

from core.data.dataset import DatasetConfig, enumerate_keys, generate_dataset
from core.data.expression import parse_expression
from core.data.features import NO_POSITION, answer_position, has_tie
from core.data.task import TaskConfig
from core.errors import ConfigError, DatasetError
from core.nn.config import ModelConfig
from core.train.run import Run, RunConfig

MOD_23 = TaskConfig(("Sum",), 22, 2, 2)


def test_stratified_sum_draws_every_answer_equally_and_labels_it_mod_m() -> None:
    task = TaskConfig(("Sum", "Max"), 99, 2, 4)
    data = generate_dataset(DatasetConfig(task, n_train=20_000, n_val=500, n_test=500, seed=3))
    sums = [ex for ex in data.train if ex.expression.op == "Sum"]
    for ex in sums[:500]:
        values = [int(a) for a in ex.expression.args]  # type: ignore[call-overload]
        assert ex.answer == sum(values) % 100 == ex.expression.evaluate()
    by_answer = Counter(ex.answer for ex in sums)
    assert len(by_answer) == 100
    large = [by_answer[a] for a in range(10, 100)]  # (0–9 also get the share of all-small expressions)
    assert max(large) < 2 * min(large)
    assert answer_position(sums[0].expression) == NO_POSITION and not has_tie(sums[0].expression)


def test_the_all_strategy_uses_every_expression_once_in_disjoint_splits() -> None:
    config = DatasetConfig(MOD_23, n_train=211, n_val=200, n_test=118, strategy="all", seed=5)
    data = generate_dataset(config)
    texts = [str(ex.expression) for split in (data.train, data.val, data.test) for ex in split]
    assert (len(data.train), len(data.val), len(data.test)) == (211, 200, 118)
    assert len(texts) == len(set(texts)) == 23 * 23  # every pair a + b exactly once
    assert all(ex.answer == sum(ex.expression.args) % 23 for ex in data.train)  # type: ignore[arg-type]
    assert generate_dataset(config).train == data.train  # seeded
    assert generate_dataset(DatasetConfig(MOD_23, 211, 200, 118, seed=6, strategy="all")).train != data.train
    assert len(enumerate_keys(TaskConfig(("Max", "Sum"), 9, 1, 2))) == 2 * (10 + 100)


@pytest.mark.parametrize("config, match", [
    (DatasetConfig(MOD_23, n_train=400, n_val=100, n_test=100, strategy="all"), "has 529 expressions, but"),
    (DatasetConfig(TaskConfig(("Sum",), 9, 2, 2, 2), n_train=10, n_val=10, n_test=10, strategy="all"),
     "set nesting to 1"),
    (DatasetConfig(TaskConfig(("Sum",), 99, 4, 4), n_train=10, n_val=10, n_test=10, strategy="all"),
     "too many to enumerate"),
])
def test_the_all_strategy_refuses_what_it_cannot_enumerate(config: DatasetConfig, match: str) -> None:
    with pytest.raises(DatasetError, match=match):
        generate_dataset(config)


def test_a_sum_task_gets_a_model_with_the_sum_token_and_an_older_vocabulary_is_refused_for_it() -> None:
    data = DatasetConfig(MOD_23, n_train=300, n_val=100, n_test=100, strategy="all")
    config = RunConfig.create(data, d_model=16, n_layers=1, n_heads=2, d_ff=32)
    assert config.model.vocab_size == 22
    result = Run(config).evaluate("val")
    assert result is not None and result.n == 100
    assert parse_expression("Sum(20, 5)", MOD_23).evaluate() == 2
    with pytest.raises(ConfigError, match="no token for Sum"):
        RunConfig(data, ModelConfig(vocab_size=21, num_classes=23))
    old_task = RunConfig.create(DatasetConfig(n_train=100, n_val=10, n_test=10))
    assert old_task.model.vocab_size == 21  # the five operations: models as they always were


def test_the_grokking_preset_memorises_first_while_validation_stays_low() -> None:
    """The first phase of grokking, in the suite (the whole curve, about a minute, is benchmarks/grokking.py:
    validation passes 95% at step 3,400 with seed 0)."""
    from core.train.presets import preset

    config = preset("grokking").run_config()
    assert config.dataset.strategy == "all" and config.optimizer.batch_size == config.dataset.n_train
    run = Run(config)
    seen: list[tuple[int, float, float]] = []  # (step, train, val) every 100 steps up to 600
    # memorised (≥ 99% of the training pairs) at some evaluation while validation is still below 50%: train
    # accuracy wavers around 99–100% from step 200 on, in the last float digits of the BLAS in use
    while run.step < 600 and not any(train >= 0.99 and val < 0.5 for _, train, val in seen):
        run.train_step()
        if run.step % 100 == 0:
            train, val = run.evaluate("train"), run.evaluate("val")
            assert train is not None and val is not None
            seen.append((run.step, train.accuracy, val.accuracy))
    assert any(train >= 0.99 and val < 0.5 for _, train, val in seen), seen


def test_an_evaluation_of_a_sum_task_reads_its_answers_mod_m() -> None:
    """The report re-parsed the split's texts without their task, so Sum lost its modulus: the slices
    of a mod-47 model listed "answer value: 47" and its mistakes a truth of 50 for Sum(30, 20)."""
    from core.probe.lab.ablation import measure
    from core.train.report import build_report

    data = DatasetConfig(MOD_23, n_train=300, n_val=200, n_test=29, strategy="all", seed=1)
    run = Run(RunConfig.create(data, d_model=16, n_layers=1, n_heads=2, d_ff=32))  # untrained: many mistakes
    assert run.val_split is not None
    report = build_report(run.model, MOD_23, "val", run.val_split)
    values = [int(s.value_label) for s in report.slices["answer"]]
    assert values and max(values) <= 22 and len(values) == 23  # 0..22, each one
    assert report.mistakes
    for m in report.mistakes:
        a, b = parse_expression(m.expression).args
        assert m.truth == (a + b) % 23, m  # type: ignore[operator]
    ablation_values = [int(s.value_label) for s in measure(run.model, MOD_23, run.val_split).slices["answer"]]
    assert max(ablation_values) <= 22
