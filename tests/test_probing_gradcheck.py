"""The inspector's whole-model gradient check (core.probe.gradcheck_report)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from core.data.task import TaskConfig
from core.data.vocab import VOCAB
from core.errors import ConfigError, ExpressionError
from core.nn.config import ModelConfig
from core.nn.layers.layernorm import LayerNorm
from core.nn.models import build_model
from core.probe.gradcheck_report import check_batch, gradient_check
from core.train.run import Run
from tests.probing_helpers import one_blas_thread, trained_run

__all__ = ["one_blas_thread"]


@pytest.fixture(scope="module", params=["encoder", "decoder"])
def run(request: pytest.FixtureRequest) -> Run:
    return trained_run(request.param, steps=80, n_layers=2, activation="gelu")


def test_a_trained_model_passes_for_every_tensor(run: Run) -> None:
    model, task = run.model, run.config.dataset.task
    seen: list[tuple[int, int, str]] = []
    report = gradient_check(model, task=task, max_elements_per_tensor=12,
                            progress=lambda done, total, name: seen.append((done, total, name)))
    names = model.params.names()
    assert [r.name for r in report.rows] == names
    assert seen == [(i + 1, len(names), n) for i, n in enumerate(names)]
    assert report.passed and report.max_error <= 1e-6, [(r.name, r.max_rel_error) for r in report.rows]
    assert all(r.checked == min(12, r.size) and r.grad_scale > 0 for r in report.rows)
    assert report.n_checked == sum(r.checked for r in report.rows) and report.n_parameters == model.num_parameters
    assert report.batch_size == 4 and report.training and report.random_targets and np.isfinite(report.loss)


def test_the_original_model_is_never_touched(run: Run) -> None:
    model = run.model
    model.params.grad[...] = np.random.default_rng(0).normal(size=model.params.grad.shape)
    weights, grads = model.params.data.copy(), model.params.grad.copy()
    rng_state = model.rng.bit_generator.state
    model.train(False)
    gradient_check(model, task=run.config.dataset.task, max_elements_per_tensor=4)
    assert np.array_equal(model.params.data, weights) and np.array_equal(model.params.grad, grads)
    assert model.params.data.dtype == np.float32 and model.rng.bit_generator.state == rng_state
    assert model.training is False
    model.train(True)


def test_real_targets_eval_mode_and_dropout_also_pass(run: Run) -> None:
    task = run.config.dataset.task
    for kwargs in ({"random_targets": False}, {"training": False}):
        report = gradient_check(run.model, task=task, max_elements_per_tensor=6, **kwargs)  # type: ignore[arg-type]
        assert report.passed, (kwargs, report.worst)
    # With dropout the generator is rewound before each forward, so every forward draws the same masks.
    noisy = build_model(replace(run.config.model, dropout=0.2), seed=1)
    report = gradient_check(noisy, task=task, max_elements_per_tensor=6)
    assert report.passed, report.worst


def test_a_wrong_backward_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    original = LayerNorm.backward

    def off_by_a_little(self: LayerNorm, dout: np.ndarray) -> np.ndarray:
        dx = original(self, dout)
        self.gamma.grad *= 1.001  # a 0.1 % error in dL/dγ only
        return dx

    monkeypatch.setattr(LayerNorm, "backward", off_by_a_little)
    model = build_model(ModelConfig(d_model=16, n_heads=2, d_ff=16, max_len=16), seed=1)
    report = gradient_check(model, task=TaskConfig(), max_elements_per_tensor=5)
    failed = {r.name for r in report.rows if not r.passed}
    assert failed == {n for n in model.params.names() if n.endswith("gamma")}
    assert not report.passed and 1e-4 < report.max_error < 1e-2


def test_batches_from_texts_or_ready_made() -> None:
    task = TaskConfig(max_value=99, min_args=2, max_args=3)
    model = build_model(ModelConfig(kind="decoder", num_classes=100, d_model=8, n_heads=2, d_ff=8, max_len=20))
    batch = check_batch(task, "decoder", texts=["Max(3, 71)", "Min(5, 6, 99)"])
    assert batch.tokens.shape[0] == 2 and not batch.pad_mask.all()  # padded rows and an extra PAD column
    for given in (batch, ["Max(3, 71)", "Min(5, 6, 99)"]):
        report = gradient_check(model, given, task, max_elements_per_tensor=3)
        assert report.passed and report.batch_size == 2
    drawn = check_batch(task, "decoder", n=5, seed=2)
    assert drawn.tokens.shape[0] == 5
    assert set(drawn.tokens[:, 0].tolist()) <= {VOCAB.id_of(op) for op in task.operations}
    with pytest.raises(ExpressionError):
        gradient_check(model, ["Max(3,"], task)
    with pytest.raises(ConfigError):
        gradient_check(model)  # nothing to draw expressions from
    with pytest.raises(ConfigError):
        gradient_check(model, check_batch(task, "encoder", n=2))  # an encoder batch for a decoder
    with pytest.raises(ConfigError):
        gradient_check(model, batch, max_elements_per_tensor=0)


def test_the_reference_size_model_is_checked_in_seconds() -> None:
    model = build_model(ModelConfig(d_model=64, n_layers=2, n_heads=4, d_ff=256, max_len=32), seed=0)
    assert 100_000 < model.num_parameters < 105_000
    report = gradient_check(model, task=TaskConfig())
    assert report.passed and report.n_checked <= 20 * len(report.rows)
    assert report.seconds < 15.0  # ~1 s on one idle core; generous for a shared machine
