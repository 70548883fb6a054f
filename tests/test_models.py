"""Both complete models: gradient checks with padding in the batch, padding invariance, greedy decoding."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import ConfigError
from core.nn.config import ModelConfig
from core.nn.gradcheck import numerical_gradient, relative_error
from core.nn.loss import cross_entropy
from core.nn.models import TransformerDecoder, TransformerEncoder, build_model

B, T, V = 3, 7, 21
LENGTHS = np.array([7, 5, 3])


def _batch(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mask = np.arange(T)[None, :] < LENGTHS[:, None]
    tokens = np.where(mask, rng.integers(3, V, (B, T)), 0)
    return tokens, mask


def _small(kind: str, **kw: object) -> ModelConfig:
    base: dict[str, object] = dict(kind=kind, vocab_size=V, num_classes=10, d_model=8, n_layers=2, n_heads=2,
                                   d_ff=12, max_len=40)
    base.update(kw)
    return ModelConfig(**base)  # type: ignore[arg-type]


def _loss_fn(model, tokens, mask, seed: int = 1):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    if isinstance(model, TransformerDecoder):
        targets = rng.integers(0, V, B * T)
        weights = (mask & (rng.random((B, T)) < 0.7)).reshape(-1).astype(np.float64)
        weights[0] = 1.0

        def loss() -> tuple[float, np.ndarray, tuple[int, ...]]:
            logits = model.forward(tokens, mask)
            value, d = cross_entropy(logits.reshape(B * T, V), targets, weights, 0.1)
            return value, d.reshape(logits.shape), logits.shape
    else:
        targets = rng.integers(0, 10, B)

        def loss() -> tuple[float, np.ndarray, tuple[int, ...]]:
            logits = model.forward(tokens, mask)
            value, d = cross_entropy(logits, targets, None, 0.1)
            return value, d, logits.shape
    return loss


VARIANTS = [
    {"norm": "pre", "activation": "relu", "positional": "sinusoidal"},
    {"norm": "post", "activation": "gelu", "positional": "learned"},
]


@pytest.mark.parametrize("kind", ["encoder", "decoder"])
@pytest.mark.parametrize("variant", VARIANTS, ids=["preLN-relu-sin", "postLN-gelu-learned"])
def test_full_model_gradients_match_finite_differences(kind: str, variant: dict) -> None:
    model = build_model(_small(kind, **variant), seed=3, dtype=np.float64)
    tokens, mask = _batch()
    loss = _loss_fn(model, tokens, mask)
    _, dlogits, _ = loss()
    model.backward(dlogits)
    errors = {}
    silent = []
    for p in model.params:
        analytic = p.grad.copy()
        numeric = numerical_gradient(lambda: loss()[0], p.value)
        errors[p.name] = relative_error(analytic, numeric)
        if not np.abs(numeric).max() > 0:
            silent.append(p.name)
    assert max(errors.values()) <= 1e-6, errors
    # every parameter influences the loss, so each comparison above compared real gradients, not zeros
    assert not silent, silent


@pytest.mark.parametrize("kind", ["encoder", "decoder"])
def test_input_gradient_matches_finite_differences(kind: str) -> None:
    """dL/d(embedded input): checks everything between the embedding lookup and the loss."""
    model = build_model(_small(kind), seed=4, dtype=np.float64)
    tokens, mask = _batch(2)
    table = model.params["embed.weight"]
    loss = _loss_fn(model, tokens, mask, seed=5)
    _, d, _ = loss()
    model.backward(d)
    analytic = table.grad.copy()
    numeric = numerical_gradient(lambda: loss()[0], table.value)
    assert relative_error(analytic, numeric) <= 1e-6


@pytest.mark.parametrize("kind", ["encoder", "decoder"])
@pytest.mark.parametrize("norm", ["pre", "post"])
def test_padding_does_not_change_outputs(kind: str, norm: str) -> None:
    model = build_model(_small(kind, norm=norm), seed=0, dtype=np.float64)
    tokens, mask = _batch()
    base = model.forward(tokens, mask)
    for extra in (1, 30):
        padded = np.pad(tokens, ((0, 0), (0, extra)))
        pmask = np.pad(mask, ((0, 0), (0, extra)))
        out = model.forward(padded, pmask)
        if kind == "encoder":
            assert np.max(np.abs(out - base)) <= 1e-6
        else:
            real = mask[:, :, None]
            assert np.max(np.abs((out[:, :T] - base) * real)) <= 1e-6


def test_attention_maps_are_kept_per_layer() -> None:
    model = build_model(_small("encoder", n_layers=3), seed=0)
    tokens, mask = _batch()
    model.forward(tokens, mask)
    maps = model.attention_maps()
    assert len(maps) == 3 and maps[0].shape == (B, 2, T, T)
    assert np.allclose(maps[0].sum(-1), 1.0, atol=1e-5)


def test_same_seed_same_weights_and_named_parameters() -> None:
    a = build_model(_small("encoder"), seed=11)
    b = build_model(_small("encoder"), seed=11)
    c = build_model(_small("encoder"), seed=12)
    assert np.array_equal(a.params.data, b.params.data)
    assert not np.array_equal(a.params.data, c.params.data)
    names = a.params.names()
    assert "blocks.0.attn.qkv.w" in names and "blocks.1.ffn.fc2.b" in names and "head.w" in names
    assert a.params.data.dtype == np.float32
    # every parameter is a view into the flat buffer
    p = a.params["blocks.0.attn.qkv.w"]
    p.value[0, 0] = 123.0
    assert a.params.data[p.offset] == np.float32(123.0)


def test_greedy_generation_follows_argmax_and_stops_at_eos() -> None:
    model = build_model(_small("decoder"), seed=0, dtype=np.float64)
    assert isinstance(model, TransformerDecoder)
    tokens, mask = _batch()
    gen = model.generate(tokens, LENGTHS, max_new_tokens=4, eos_id=1)
    # step 0's token is the argmax of the forward pass at each prompt's last position
    logits = model.forward(tokens, mask)
    expected = logits[np.arange(B), LENGTHS - 1].argmax(-1)
    assert np.array_equal(gen.tokens[:, 0], expected)
    # step 1 continues from the extended prompt
    ext = np.zeros((B, T + 1), dtype=np.int64)
    ext[:, :T] = tokens
    ext[np.arange(B), LENGTHS] = expected
    nxt = model.forward(ext)[np.arange(B), LENGTHS].argmax(-1)
    alive = expected != 1
    assert np.array_equal(gen.tokens[alive, 1], nxt[alive])
    assert np.allclose(gen.probs[:, 0].sum(-1), 1.0)


def test_encoder_predict_returns_probabilities() -> None:
    model = build_model(_small("encoder", dropout=0.2), seed=0)
    assert isinstance(model, TransformerEncoder)
    tokens, mask = _batch()
    p1, p2 = model.predict(tokens, mask), model.predict(tokens, mask)
    assert np.allclose(p1.sum(-1), 1.0, atol=1e-5)
    assert np.array_equal(p1, p2)  # dropout is off in predict
    assert model.training  # and the mode is restored


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"d_model": 10, "n_heads": 3}, "must divide d_model"),
        ({"kind": "rnn"}, "kind must be one of"),
        ({"n_layers": 0}, "n_layers must be between"),
        ({"dropout": 1.0}, "dropout must be in"),
        ({"d_model": 7, "n_heads": 1}, "even d_model"),
        ({"norm": "sandwich"}, "norm must be one of"),
    ],
)
def test_model_config_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ModelConfig(**kwargs)


def test_model_config_round_trip_and_unknown_keys() -> None:
    cfg = ModelConfig(kind="decoder", d_model=32, n_heads=8)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown keys: colour"):
        ModelConfig.from_dict({**cfg.to_dict(), "colour": "red"})
    with pytest.raises(ConfigError, match="JSON object"):
        ModelConfig.from_dict([1, 2])


def test_too_long_sequence_is_refused() -> None:
    model = build_model(_small("encoder", max_len=5), seed=0)
    tokens, mask = _batch()
    with pytest.raises(ValueError, match="max_len"):
        model.forward(tokens, mask)


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_encoder_last_layer_shortcut_is_exact(norm: str) -> None:
    """Training computes only position 0 in the last layer; evaluation computes everything. Same
    logits, same gradients."""
    model = build_model(_small("encoder", norm=norm), seed=2, dtype=np.float64)
    tokens, mask = _batch()
    targets = np.array([1, 2, 3])
    grads = []
    logits = []
    for training in (True, False):
        model.train(training)
        out = model.forward(tokens, mask)
        _, d = cross_entropy(out, targets)
        model.backward(d)
        grads.append(model.params.grad.copy())
        logits.append(out)
    assert np.allclose(logits[0], logits[1], atol=1e-12, rtol=0)
    assert np.allclose(grads[0], grads[1], atol=1e-12, rtol=0)
    assert model.attention_maps()[-1].shape == (B, 2, T, T)  # eval mode keeps full maps


def test_generation_reports_how_many_tokens_each_row_generated() -> None:
    model = build_model(_small("decoder"), seed=0, dtype=np.float64)
    assert isinstance(model, TransformerDecoder)
    tokens, _ = _batch()
    gen = model.generate(tokens, LENGTHS, max_new_tokens=3, eos_id=1)
    for row, n in zip(gen.tokens, gen.lengths, strict=True):
        assert 1 <= n <= 3
        assert n == 3 or row[n - 1] == 1  # stopped early only at [EOS]


def test_each_kind_answers_the_kind_specific_questions() -> None:
    from core.data.expression import parse_expression
    from core.data.task import TaskConfig
    from core.data.vocab import VOCAB

    task = TaskConfig()
    expr = parse_expression("Max(3, 7, 2)", task)
    n = len(expr.tokens())
    enc = build_model(ModelConfig(kind="encoder", vocab_size=len(VOCAB), num_classes=task.num_classes, max_len=n))
    dec = build_model(ModelConfig(kind="decoder", vocab_size=len(VOCAB), num_classes=task.num_classes,
                                  max_len=n + 1 + task.max_answer_tokens))
    assert (enc.kind, dec.kind) == ("encoder", "decoder")
    assert enc.prompt_ids(expr) == VOCAB.encode(expr.tokens())
    assert dec.prompt_ids(expr) == [*VOCAB.encode(expr.tokens()), VOCAB.sep_id]
    assert enc.readout_position(n) == 0 and dec.readout_position(n + 1) == n  # the "=" position
    assert enc.fits(expr, task) and dec.fits(expr, task)  # both exactly at their limit
    short_enc = build_model(ModelConfig(kind="encoder", vocab_size=len(VOCAB), num_classes=task.num_classes,
                                        max_len=n - 1))
    short_dec = build_model(ModelConfig(kind="decoder", vocab_size=len(VOCAB), max_len=n + task.max_answer_tokens))
    assert not short_enc.fits(expr, task) and not short_dec.fits(expr, task)
    assert enc.output_labels() == list(range(task.num_classes)) and dec.output_labels() == list(VOCAB.tokens)


@pytest.mark.parametrize("kind", ["encoder", "decoder"])
def test_eval_mode_restores_the_mode_even_after_an_error(kind: str) -> None:
    model = build_model(_small(kind, dropout=0.1))
    for training in (True, False):
        model.train(training)
        with pytest.raises(RuntimeError), model.eval_mode():
            assert not model.training and not model.drop.training
            raise RuntimeError
        assert model.training is training


@pytest.mark.parametrize("kind", ["encoder", "decoder"])
def test_copy_model_is_independent_and_equal(kind: str) -> None:
    from core.nn.models import copy_model

    model = build_model(_small(kind), seed=3)
    model.params.data[...] += 0.01  # weights that differ from a fresh build of the same seed
    tokens, mask = _batch()
    copy = copy_model(model)
    assert not copy.training and copy.seed == 3 and copy.dtype == model.dtype
    model.eval()
    assert np.array_equal(copy.forward(tokens, mask), model.forward(tokens, mask))
    copy.params.data[...] = 0.0
    assert np.any(model.params.data != 0.0)
    wide = copy_model(model, dtype=np.float64, training=True)
    assert wide.dtype == np.float64 and wide.training and np.array_equal(wide.params.data, model.params.data)
