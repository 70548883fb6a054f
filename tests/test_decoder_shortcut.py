"""The training shortcuts are exact: computing only what the loss reads gives the full computation's loss,
correctness and gradients.

Training (``forward_batch`` in training mode) skips two kinds of work, see ``core.nn.layers.attention``:
padding positions in every block, and — in the last block, the final LayerNorm and the head — every
position the loss does not score (the decoder scores the answer digits and [EOS]: 2 or 3 positions of ~20).
Compared here in float64 against evaluation mode, which runs the plain full computation, on real 0–99
batches with 2–5 arguments: 1- and 2-digit answers, so rows have different numbers of scored positions,
and padding. Then the shortcut's gradients against finite differences, with dropout on as well.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.data.batching import Batch, encode_examples, make_batch
from core.data.dataset import DatasetConfig, generate_dataset
from core.data.task import TaskConfig
from core.data.vocab import VOCAB
from core.nn.config import ModelConfig
from core.nn.gradcheck import numerical_gradient, relative_error
from core.nn.layers.attention import MultiHeadSelfAttention, Rows, attention_bias
from core.nn.models import TransformerDecoder, build_model
from core.nn.params import ParameterStore

TASK = TaskConfig(max_value=99, min_args=2, max_args=5)
EXACT = 1e-12


def _decoder(norm: str, dropout: float = 0.0, seed: int = 0, **kw: object) -> TransformerDecoder:
    sizes: dict[str, object] = {"d_model": 16, "n_layers": 3, "n_heads": 4, "d_ff": 24, **kw}
    config = ModelConfig(kind="decoder", vocab_size=len(VOCAB), num_classes=TASK.num_classes, max_len=32,
                         norm=norm, dropout=dropout, **sizes)  # type: ignore[arg-type]
    model = build_model(config, seed=seed, dtype=np.float64)
    assert isinstance(model, TransformerDecoder)
    # LayerNorm gains and biases away from 1 and 0, so a wrong dγ, dβ or db cannot hide
    model.params.data += np.random.default_rng(seed + 1).normal(0.0, 0.2, model.params.data.shape)
    return model


def _batch(n: int = 24, extra_padding: int = 0, seed: int = 0) -> Batch:
    data = generate_dataset(DatasetConfig(task=TASK, n_train=400, n_val=10, n_test=10, seed=seed))
    split = encode_examples(data.train, TASK, "decoder")
    batch = make_batch(split, np.arange(n), extra_padding)
    # what the comparison needs the batch to contain, so that it cannot pass vacuously
    assert batch.loss_mask is not None
    scored_per_row = (batch.loss_mask > 0).sum(axis=1)
    assert set(scored_per_row.tolist()) == {2, 3}, "1- and 2-digit answers (and [EOS])"
    assert len(set(batch.n_args.tolist())) >= 3, "several argument counts"
    assert not batch.pad_mask.all(), "padding"
    return batch


def _run(model: TransformerDecoder, batch: Batch, training: bool, label_smoothing: float = 0.0
         ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """Loss, scored logits (N, V), correct (B,) and the gradient of every parameter, in one mode."""
    model.train(training)
    model.params.zero_grad()
    logits = model.forward_batch(batch)
    loss, dlogits, correct = model.objective(logits, batch, label_smoothing)
    model.backward(dlogits)
    rows = TransformerDecoder.scored_rows(batch)
    scored = logits if training else logits.reshape(-1, logits.shape[-1])[rows]
    return loss, scored, correct, model.params.grad.copy()


@pytest.mark.parametrize("norm", ["pre", "post"])
@pytest.mark.parametrize("extra_padding", [0, 3])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_training_shortcut_equals_the_full_computation(norm: str, extra_padding: int, label_smoothing: float) -> None:
    model = _decoder(norm)
    batch = _batch(extra_padding=extra_padding)
    full = _run(model, batch, training=False, label_smoothing=label_smoothing)
    short = _run(model, batch, training=True, label_smoothing=label_smoothing)
    assert short[1].shape == (TransformerDecoder.scored_rows(batch).size, len(VOCAB))  # the shortcut was taken
    assert abs(full[0] - short[0]) <= EXACT
    assert np.max(np.abs(full[1] - short[1])) <= EXACT
    assert np.array_equal(full[2], short[2])
    diff = np.abs(full[3] - short[3])
    worst = {p.name: float(diff[p.offset : p.offset + p.size].max()) for p in model.params}
    assert max(worst.values()) <= EXACT, worst
    assert all(np.any(short[3][p.offset : p.offset + p.size] != 0) for p in model.params)  # real gradients


def test_correctness_is_every_scored_prediction_right() -> None:
    """The scored-rows objective marks the same rows correct as the full one, on logits made to be right at
    some rows' scored positions, wrong at one scored position of others, and wrong at unscored positions."""
    model = _decoder("pre")
    batch = _batch()
    b, t = batch.targets.shape
    rng = np.random.default_rng(3)
    full = rng.normal(size=(b, t, len(VOCAB)))
    flat = full.reshape(b * t, -1)
    rows = TransformerDecoder.scored_rows(batch)
    flat[rows, batch.targets.reshape(-1)[rows]] += 50.0  # every scored prediction right ...
    wrong_rows = np.array([1, 4, 7])
    for r in wrong_rows:  # ... except one (the last: [EOS]) in a few rows
        last = rows[rows // t == r][-1]
        flat[last, batch.targets.reshape(-1)[last]] -= 100.0
    loss_f, d_f, correct_f = model.objective(full, batch)
    loss_s, d_s, correct_s = model.objective(flat[rows].copy(), batch)
    assert correct_f.sum() == b - len(wrong_rows) and not correct_f[wrong_rows].any()
    assert np.array_equal(correct_f, correct_s)
    assert abs(loss_f - loss_s) <= EXACT
    assert np.array_equal(d_f.reshape(b * t, -1)[rows], d_s)
    assert not np.any(np.delete(d_f.reshape(b * t, -1), rows, axis=0))  # unscored rows: no gradient
    with pytest.raises(ValueError, match="scores"):
        model.objective(flat[rows[:-1]], batch)


@pytest.mark.parametrize(("norm", "dropout"), [("pre", 0.2), ("post", 0.0)])  # each norm; dropout once
def test_training_shortcut_gradients_match_finite_differences(norm: str, dropout: float) -> None:
    model = _decoder(norm, dropout=dropout, seed=5, d_model=8, n_heads=2, d_ff=12)
    batch = _batch(n=6, extra_padding=1, seed=1)
    model.train(True)
    state = model.rng.bit_generator.state

    def loss() -> float:
        model.rng.bit_generator.state = state  # the same dropout masks on every forward
        return model.objective(model.forward_batch(batch), batch, 0.1)[0]

    model.rng.bit_generator.state = state
    logits = model.forward_batch(batch)
    assert logits.ndim == 2  # the shortcut path is the one checked
    model.params.zero_grad()
    model.backward(model.objective(logits, batch, 0.1)[1])
    errors = {}
    for p in model.params:
        analytic = p.grad.copy()
        numeric = numerical_gradient(loss, p.value)
        assert np.abs(numeric).max() > 0, p.name  # every parameter influences the loss
        errors[p.name] = relative_error(analytic, numeric)
    assert max(errors.values()) <= 1e-6, errors


def test_evaluation_mode_computes_every_position() -> None:
    model = _decoder("pre")
    batch = _batch()
    b, t = batch.tokens.shape
    with model.eval_mode():
        assert model.forward_batch(batch).shape == (b, t, len(VOCAB))
        assert all(m.shape == (b, 4, t, t) for m in model.attention_maps())
    model.train()
    model.forward_batch(batch)
    maps = model.attention_maps()
    assert maps[-1].shape[2] == 3  # the last layer's queries: the most scored positions of any row


# -- the attention layer on its own ---------------------------------------------------------------------------
B, T, D = 4, 7, 8
LENGTHS = np.array([7, 5, 2, 6])


def _attention() -> tuple[MultiHeadSelfAttention, ParameterStore]:
    store = ParameterStore(np.float64)
    layer = MultiHeadSelfAttention(store, "attn", D, 2, np.random.default_rng(0))
    store.finalize()
    store.data += np.random.default_rng(1).normal(0.0, 0.3, store.data.shape)
    return layer, store


def test_rows_layout() -> None:
    rows = Rows.at(np.array([2, 3, 9, 10, 11, 26]), B, T)  # sequence 0: t 2, 3; 1: t 2, 3, 4; 3: t 5
    assert rows.per_sequence == 3
    assert rows.slots.tolist() == [0, 1, 3, 4, 5, 9]
    assert rows.positions.tolist() == [[2, 3, 0], [2, 3, 4], [0, 0, 0], [5, 0, 0]]
    bias = attention_bias(np.arange(T)[None, :] < LENGTHS[:, None], T, True, np.dtype(np.float64))
    assert bias is not None
    picked = rows.bias(bias)
    assert picked is not None and picked.shape == (B, 1, 3, T)
    assert np.array_equal(picked[1, 0], bias[1, 0, [2, 3, 4]]) and np.array_equal(picked[3, 0, 0], bias[3, 0, 5])
    first = Rows.first(B, T)
    assert first.flat.tolist() == [0, 7, 14, 21] and first.positions.tolist() == [[0]] * B
    assert np.array_equal(rows.among(Rows.at(np.arange(B * T), B, T)), rows.flat)
    assert np.array_equal(rows.among(None), rows.flat)
    with pytest.raises(ValueError, match="among"):
        rows.among(Rows.at(np.array([2, 3, 9]), B, T))
    for bad in ([3, 2], [1, 1], [-1, 2], [0, B * T]):
        with pytest.raises(ValueError, match="ascending"):
            Rows.at(np.array(bad), B, T)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("packed", [False, True])
def test_attention_on_some_rows_equals_the_full_attention(causal: bool, packed: bool) -> None:
    """Held rows = the real tokens (or all), queries = a few of them: outputs and every gradient equal the full
    layer's at those rows, given an upstream gradient on those rows only."""
    layer, store = _attention()
    mask = np.arange(T)[None, :] < LENGTHS[:, None]
    bias = attention_bias(mask, T, causal, np.dtype(np.float64))
    x = np.random.default_rng(2).normal(size=(B * T, D))
    held = Rows.at(np.flatnonzero(mask), B, T) if packed else None
    real = np.flatnonzero(mask)
    for queries in (None, Rows.at(real[[0, 3, 4, 9, 10, 11, 17]], B, T)):
        picked = real if queries is None else queries.flat
        g = np.random.default_rng(3).normal(size=(picked.size, D))
        full_g = np.zeros((B * T, D))
        full_g[picked] = g
        y_full = layer.forward(x, B, T, bias)
        dx_full = layer.backward(full_g)
        grads_full = store.grad.copy()
        x_in = x if held is None else x[held.flat]
        y = layer.forward(x_in, B, T, bias, held, queries)
        dx = layer.backward(g if queries is not None or held is not None else full_g)
        if queries is None and held is None:
            y, dx = y[picked], dx
        assert np.max(np.abs(y - y_full[picked])) <= EXACT
        dx_expected = dx_full if held is None else dx_full[held.flat]
        assert np.max(np.abs(dx - dx_expected)) <= EXACT
        assert np.max(np.abs(store.grad - grads_full)) <= EXACT


def test_attention_query_rows_gradients_match_finite_differences() -> None:
    layer, store = _attention()
    mask = np.arange(T)[None, :] < LENGTHS[:, None]
    bias = attention_bias(mask, T, True, np.dtype(np.float64))
    held = Rows.at(np.flatnonzero(mask), B, T)
    queries = Rows.at(held.flat[[1, 6, 7, 8, 15, 19]], B, T)
    x = np.random.default_rng(2).normal(size=(held.flat.size, D))
    r = np.random.default_rng(4).normal(size=(queries.flat.size, D))

    def loss() -> float:
        return float(np.sum(layer.forward(x, B, T, bias, held, queries) * r))

    loss()
    dx = layer.backward(r.copy())
    errors = {"input": relative_error(dx, numerical_gradient(loss, x))}
    for p in store:
        errors[p.name] = relative_error(p.grad.copy(), numerical_gradient(loss, p.value))
    assert max(errors.values()) <= 1e-6, errors


def test_batch_answers_are_greedy_generation() -> None:
    """Evaluation answers the rows teacher forcing gets right without generating them; the answers are
    still exactly greedy generation's, on a trained model (most rows right, some wrong) and an untrained one."""
    from core.data.answer_format import decode_answers
    from core.train.checkpoint import read_checkpoint

    data = generate_dataset(DatasetConfig(task=TASK, n_train=10, n_val=10, n_test=400, seed=7))
    split = encode_examples(data.test, TASK, "decoder")
    max_new = int((split.lengths - split.prompt_lengths).max())
    batch = make_batch(split, np.arange(len(split)))
    # the shipped decoder, its weights blurred just enough that some rows are right and some wrong
    # (the smallest noise that does it, so the test does not rest on how good the shipped model is)
    trained = read_checkpoint("decoder-0-99").build_model()
    weights = trained.params.data.copy()
    for scale in (0.0, 0.01, 0.02, 0.04, 0.08, 0.16):
        trained.params.data[:] = weights + np.random.default_rng(11).normal(0.0, scale, weights.shape)
        with trained.eval_mode():
            if 0.5 < trained.scored_correct(trained.forward_batch(batch), batch).mean() < 1.0:
                break
    for model in (trained, _decoder("pre")):
        with model.eval_mode():
            logits = model.forward_batch(batch)
        answers = model.batch_answers(batch, logits, max_new)
        width = int(batch.prompt_lengths.max())
        prompts = np.where(np.arange(width)[None, :] < batch.prompt_lengths[:, None], batch.tokens[:, :width], 0)
        gen = model.generate(prompts, batch.prompt_lengths, max_new, VOCAB.eos_id, VOCAB.pad_id)
        assert np.array_equal(answers, decode_answers(gen.tokens))
        right = model.scored_correct(logits, batch)
        if model is trained:
            assert 0.5 < right.mean() < 1.0  # both kinds of row were answered
        # too few new tokens for an answer and its [EOS]: generated (and unparsable), not taken from the target
        short = model.batch_answers(batch, logits, 1)
        assert np.all(short == -1)
