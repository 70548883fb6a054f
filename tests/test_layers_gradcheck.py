"""Every layer's backward against central finite differences in float64 (max relative error ≤ 1e-6)."""

from __future__ import annotations

import numpy as np
import pytest

from core.nn.layers import (
    GELU,
    Dropout,
    Embedding,
    FeedForward,
    LayerNorm,
    LearnedPositions,
    Linear,
    MultiHeadSelfAttention,
    ReLU,
    SinusoidalPositions,
    TransformerBlock,
    log_softmax,
    softmax,
    softmax_backward,
    softmax_inplace,
)
from core.nn.layers.attention import attention_bias
from core.nn.layers.layernorm import layer_norm
from core.nn.params import ParameterStore
from tests.gradcheck_utils import assert_all_below, check_layer

B, T, D = 3, 5, 8


def _store() -> ParameterStore:
    return ParameterStore(np.float64)


def _x(seed: int = 1, shape: tuple[int, ...] = (B * T, D)) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape)


def _mask() -> np.ndarray:
    lengths = np.array([5, 3, 1])
    return np.arange(T)[None, :] < lengths[:, None]


def test_linear() -> None:
    s = _store()
    layer = Linear(s, "lin", D, 6, np.random.default_rng(0))
    s.finalize()
    s["lin.b"].value[...] = np.random.default_rng(3).normal(size=6)
    assert_all_below(check_layer(layer.forward, layer.backward, _x(), s))


def test_layernorm() -> None:
    s = _store()
    layer = LayerNorm(s, "ln", D)
    s.finalize()
    rng = np.random.default_rng(4)
    s["ln.gamma"].value[...] = rng.normal(size=D)
    s["ln.beta"].value[...] = rng.normal(size=D)
    assert_all_below(check_layer(layer.forward, layer.backward, _x(), s))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_norm_function_is_the_textbook_formula_and_the_layers_forward(dtype: type) -> None:
    rng = np.random.default_rng(5)
    x = (rng.normal(size=(B * T, D)) * 3 + 1).astype(dtype)
    gamma, beta = rng.normal(size=D).astype(dtype), rng.normal(size=D).astype(dtype)
    x64 = x.astype(np.float64)
    mu, var = x64.mean(axis=-1, keepdims=True), x64.var(axis=-1, keepdims=True)
    plain = (x64 - mu) / np.sqrt(var + 1e-5) * gamma + beta
    x_before = x.copy()
    y = layer_norm(x, gamma, beta, 1e-5)
    assert y.dtype == dtype and np.array_equal(x, x_before)  # the input is only read
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y, plain, rtol=tol, atol=tol)
    s = ParameterStore(dtype)
    layer = LayerNorm(s, "ln", D)
    s.finalize()
    s["ln.gamma"].value[...], s["ln.beta"].value[...] = gamma, beta
    assert np.array_equal(layer.forward(x), y)  # the layer runs exactly this function


@pytest.mark.parametrize("act", [ReLU, GELU])
def test_activations(act: type) -> None:
    layer = act()
    x = _x()
    x[np.abs(x) < 1e-3] = 0.5  # keep away from ReLU's kink, where finite differences are undefined
    assert_all_below(check_layer(layer.forward, layer.backward, x))


def test_dropout_uses_the_same_mask_forward_and_backward() -> None:
    seed = 7

    def forward(x: np.ndarray) -> np.ndarray:
        layer.rng = np.random.default_rng(seed)  # same mask on every call, as in one training step
        return layer.forward(x)

    layer = Dropout(0.3, np.random.default_rng(seed))
    assert_all_below(check_layer(forward, layer.backward, _x()))
    y = forward(np.ones((1000, 10)))
    assert 0.6 < (y > 0).mean() < 0.8  # keeps about 1 − p
    assert np.allclose(np.unique(y), [0.0, 1 / 0.7])  # inverted scaling


def test_dropout_is_identity_in_eval_mode() -> None:
    layer = Dropout(0.5, np.random.default_rng(0))
    layer.training = False
    x = _x()
    assert layer.forward(x) is x


def test_softmax() -> None:
    x = _x(shape=(4, 6))
    cache: dict[str, np.ndarray] = {}

    def forward(z: np.ndarray) -> np.ndarray:
        cache["p"] = softmax(z.copy())
        return cache["p"]

    assert_all_below(check_layer(forward, lambda d: softmax_backward(cache["p"], d), x))
    assert np.allclose(softmax(x).sum(axis=-1), 1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_in_place_softmax_equals_the_plain_one(dtype: type) -> None:
    rng = np.random.default_rng(6)
    x = (rng.normal(size=(2, 3, 5, 7)) * 4).astype(dtype)
    x[..., 0, 3:] = -1e9  # masked scores, as attention makes them
    plain = softmax(x)
    assert plain.dtype == dtype
    buf = x.copy()
    fast = softmax_inplace(buf)
    assert fast is buf
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(fast, plain, rtol=tol, atol=tol)
    assert np.all(fast[..., 0, 3:] == 0) and np.all(plain[..., 0, 3:] == 0)
    np.testing.assert_allclose(np.exp(log_softmax(x.astype(np.float64))), softmax(x.astype(np.float64)), rtol=1e-12)


def test_embedding() -> None:
    s = _store()
    layer = Embedding(s, "embed", 11, D, np.random.default_rng(0))
    s.finalize()
    ids = np.random.default_rng(2).integers(0, 11, (B, T))
    ids[0, :3] = 4  # repeated ids must accumulate

    def forward(_: np.ndarray) -> np.ndarray:
        return layer.forward(ids)

    def backward(d: np.ndarray) -> None:
        layer.backward(d)

    assert_all_below(check_layer(forward, backward, np.zeros(1), s))


def test_embedding_rejects_out_of_range_ids() -> None:
    s = _store()
    layer = Embedding(s, "embed", 5, D, np.random.default_rng(0))
    s.finalize()
    with pytest.raises(ValueError, match="token ids"):
        layer.forward(np.array([[1, 5]]))


def test_learned_positions() -> None:
    s = _store()
    layer = LearnedPositions(s, "pos", 9, D, np.random.default_rng(0))
    s.finalize()
    errors = check_layer(lambda x: layer.forward(x, B, T), layer.backward, _x(), s)
    assert_all_below(errors)
    layer.forward(_x(), B, T)
    layer.backward(np.ones((B * T, D)))
    assert np.all(s["pos.weight"].grad[T:] == 0)  # positions beyond T get no gradient


def test_sinusoidal_positions_shape_and_limit() -> None:
    layer = SinusoidalPositions(6, D, np.dtype(np.float64))
    y = layer.forward(np.zeros((2 * 4, D)), 2, 4)
    assert np.allclose(y.reshape(2, 4, D)[0], y.reshape(2, 4, D)[1])
    assert np.allclose(y[0, 0::2], 0.0) and np.allclose(y[0, 1::2], 1.0)  # sin(0), cos(0)
    with pytest.raises(ValueError, match="max_len"):
        layer.forward(np.zeros((7, D)), 1, 7)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_attention(causal: bool, masked: bool) -> None:
    s = _store()
    layer = MultiHeadSelfAttention(s, "attn", D, 2, np.random.default_rng(0))
    s.finalize()
    for p in s:
        if p.name.endswith(".b"):
            p.value[...] = np.random.default_rng(5).normal(size=p.shape)
    bias = attention_bias(_mask() if masked else None, T, causal, np.dtype(np.float64))
    errors = check_layer(lambda x: layer.forward(x, B, T, bias), layer.backward, _x(), s)
    assert_all_below(errors)
    # separate Q, K and V gradients: the original bug gave W_q and W_k V's gradient
    g = s["attn.qkv.w"].grad
    assert not np.allclose(g[:, :D], g[:, 2 * D :])


def test_attention_weights_respect_masks() -> None:
    s = _store()
    layer = MultiHeadSelfAttention(s, "attn", D, 4, np.random.default_rng(0))
    s.finalize()
    mask = _mask()
    layer.forward(_x(), B, T, attention_bias(mask, T, True, np.dtype(np.float64)))
    p = layer.attn_weights
    assert p is not None and p.shape == (B, 4, T, T)
    assert np.allclose(p.sum(-1), 1.0)
    assert np.all(p[:, :, :, :][np.broadcast_to(~mask[:, None, None, :], p.shape)] == 0.0)  # no pad key
    assert np.all(np.triu(np.ones((T, T)), 1)[None, None] * p == 0.0)  # no future key


def test_attention_rejects_heads_not_dividing_dim() -> None:
    with pytest.raises(ValueError, match="divide"):
        MultiHeadSelfAttention(_store(), "attn", 10, 3, np.random.default_rng(0))


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_feedforward(activation: str) -> None:
    s = _store()
    layer = FeedForward(s, "ffn", D, 12, activation, np.random.default_rng(0))
    s.finalize()
    assert_all_below(check_layer(layer.forward, layer.backward, _x(), s))


@pytest.mark.parametrize("pre_ln", [True, False])
def test_transformer_block(pre_ln: bool) -> None:
    s = _store()
    block = TransformerBlock(s, "block", D, 2, 12, "gelu", 0.0, pre_ln, np.random.default_rng(0))
    s.finalize()
    bias = attention_bias(_mask(), T, False, np.dtype(np.float64))
    errors = check_layer(lambda x: block.forward(x, B, T, bias), block.backward, _x(), s)
    assert_all_below(errors)
