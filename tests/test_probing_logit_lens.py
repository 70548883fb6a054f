"""The logit lens (core.probe.logit_lens): the head's reading of the residual stream after every layer."""

from __future__ import annotations

import numpy as np
import pytest

from core.nn.models import TransformerDecoder
from core.probe.inference import predict
from core.probe.logit_lens import logit_lens, read_out, residual_stream
from core.train.run import Run
from tests.probing_helpers import one_blas_thread, trained_run

__all__ = ["one_blas_thread"]


@pytest.fixture(scope="module", params=[("encoder", "pre"), ("encoder", "post"), ("decoder", "pre"),
                                        ("decoder", "post")], ids=lambda p: f"{p[0]}-{p[1]}LN")
def run(request: pytest.FixtureRequest) -> Run:
    kind, norm = request.param
    return trained_run(kind, steps=60, norm=norm, n_layers=2)


def _texts(run: Run, n: int = 10) -> list[str]:
    return run.val_split.texts[:n]  # type: ignore[union-attr]


def test_the_last_layer_reads_the_models_actual_prediction(run: Run) -> None:
    model, task = run.clone_model(), run.config.dataset.task
    texts = _texts(run)
    for text, pred in zip(texts, predict(run.clone_model(), task, texts, top_k=5), strict=True):
        lens = logit_lens(model, task, text, top_k=5)
        assert lens.error is None and len(lens.layers) == model.config.n_layers + 1
        assert lens.layer_names == ["embedding", "block 1", "block 2"]
        last = lens.layers[-1]
        if isinstance(model, TransformerDecoder):
            assert lens.position == len(lens.tokens) - 1 and lens.tokens[-1] == "="
            expected = pred.steps[0]  # the first generated token's distribution
        else:
            assert lens.position == 0
            expected = pred.top
            assert last[0][0] == pred.answer
        assert [a for a, _ in last] == [a for a, _ in expected], text
        assert [p for _, p in last] == pytest.approx([p for _, p in expected], abs=2e-6)


def test_every_layer_gives_a_distribution_over_the_heads_outputs(run: Run) -> None:
    model, task = run.clone_model(), run.config.dataset.task
    lens = logit_lens(model, task, _texts(run)[0], top_k=3)
    n_out = model.config.vocab_size if isinstance(model, TransformerDecoder) else task.num_classes
    assert lens.probs.shape == (model.config.n_layers + 1, n_out) and len(lens.labels) == n_out
    assert np.allclose(lens.probs.sum(axis=1), 1.0) and np.all(lens.probs >= 0)
    for row, reading in zip(lens.probs, lens.layers, strict=True):
        assert len(reading) == 3
        assert [p for _, p in reading] == pytest.approx(sorted(row, reverse=True)[:3])
        assert reading[0][0] == lens.labels[int(np.argmax(row))]


def test_the_residual_stream_ends_in_the_models_own_logits(run: Run) -> None:
    model = run.clone_model()
    tokens = run.val_split.tokens[:1, : int(run.val_split.prompt_lengths[0])]  # type: ignore[union-attr]
    states = residual_stream(model, tokens)
    assert len(states) == model.config.n_layers + 1 and states[0].shape == (1, tokens.shape[1], model.config.d_model)
    logits = model.forward(tokens).astype(np.float64)
    logits = logits[0, -1] if isinstance(model, TransformerDecoder) else logits[0]
    pos = tokens.shape[1] - 1 if isinstance(model, TransformerDecoder) else 0
    expected = np.exp(logits - logits.max())
    assert np.allclose(read_out(model, states[-1][0, pos][None])[0], expected / expected.sum(), atol=2e-6)


def test_the_lens_changes_no_weight_and_restores_the_mode(run: Run) -> None:
    model, task = run.clone_model(), run.config.dataset.task
    before = model.params.data.copy()
    for training in (True, False):
        model.train(training)
        logit_lens(model, task, _texts(run)[0])
        assert model.training is training
    assert np.array_equal(model.params.data, before)


def test_bad_input_comes_back_as_an_error(run: Run) -> None:
    lens = logit_lens(run.clone_model(), run.config.dataset.task, "Maxx(1, 2, 3)")
    assert lens.error and "did you mean Max" in lens.error and lens.layers == [] and lens.expression is None
