"""The operations of one example's forward pass, in float64, each with its backward rule beside it.

Every op is a pair of plain functions over named arrays: ``forward(**args) → y`` and
``backward(G, **args) → {arg: dL/d arg}`` for upstream G = dL/dy. Shapes are one example's (B = 1):
x (T, d), per-head arrays (H, T, dₕ), attention (H, T, T). These are the textbook formulas, written
again rather than reused from ``core.nn.layers`` (whose versions are batched and in place), so the trace
is an independent derivation: its tests compare it with the model's own forward and backward.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

LN_EPS = 1e-5  # core.nn.layers.layernorm.LayerNorm's default, used by every LayerNorm of the models
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_C = 0.044715

Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class Op:
    """One step of the computation: its forward formula and backward rule (one line each, for display)
    and the two functions that compute them."""

    formula: str
    rule: str
    forward: Callable[..., np.ndarray]
    backward: Callable[..., Arrays]


# -- lookups and sums ------------------------------------------------------------------------------
def _embed(ids: np.ndarray, table: np.ndarray) -> np.ndarray:
    return table[ids.astype(np.int64)]


def _embed_back(g: np.ndarray, ids: np.ndarray, table: np.ndarray) -> Arrays:
    dtable = np.zeros_like(table)
    np.add.at(dtable, ids.astype(np.int64), g)  # a token seen twice gets both rows' gradients
    return {"table": dtable}


EMBEDDING = Op("x = E[ids]", "dE[id] = Σ_{t: ids_t = id} G_t  (rows scattered back to their tokens)",
               _embed, _embed_back)


def _add(x: np.ndarray, f: np.ndarray) -> np.ndarray:
    return x + f


def _add_back(g: np.ndarray, x: np.ndarray, f: np.ndarray) -> Arrays:
    return {"x": g, "f": g}


ADD_POSITIONS = Op("x₀ = E[ids] + P[0:T]", "dx = G,  dP[0:T] = G  (a sum passes its gradient to both terms)",
                   lambda x, pos: x + pos, lambda g, x, pos: {"x": g, "pos": g})
RESIDUAL = Op("y = x + f(x)", "dx = G (skip path), df = G (into the sublayer); the two meet again at x",
              _add, _add_back)


# -- LayerNorm ---------------------------------------------------------------------------------------
def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return gamma * (x - mu) / np.sqrt(var + LN_EPS) + beta


def _layer_norm_back(g: np.ndarray, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> Arrays:
    n = x.shape[-1]
    mu = x.mean(axis=-1, keepdims=True)
    rstd = 1.0 / np.sqrt(((x - mu) ** 2).mean(axis=-1, keepdims=True) + LN_EPS)
    xhat = (x - mu) * rstd
    gg = g * gamma
    dx = rstd / n * (n * gg - gg.sum(axis=-1, keepdims=True) - xhat * (gg * xhat).sum(axis=-1, keepdims=True))
    return {"x": dx, "gamma": (g * xhat).sum(axis=0), "beta": g.sum(axis=0)}


LAYER_NORM = Op("y = γ ⊙ (x − μ)/√(σ² + ε) + β  (per position, over d)",
                "dx = (1/√(σ²+ε))/d · (d·ĝ − Σĝ − x̂·Σ(ĝ⊙x̂)), ĝ = γ⊙G;  dγ = Σₜ G⊙x̂,  dβ = Σₜ G",
                _layer_norm, _layer_norm_back)


# -- linear maps -------------------------------------------------------------------------------------
def _linear(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    return x @ w + b


def _linear_back(g: np.ndarray, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> Arrays:
    x2, g2 = x.reshape(-1, x.shape[-1]), g.reshape(-1, g.shape[-1])  # a single row (encoder head) too
    return {"x": g @ w.T, "w": x2.T @ g2, "b": g2.sum(axis=0)}


LINEAR = Op("y = x W + b", "dx = G Wᵀ,  dW = xᵀ G,  db = Σₜ G", _linear, _linear_back)


def split_heads(y: np.ndarray, n_heads: int) -> np.ndarray:
    """(T, d) → (H, T, dₕ): head h owns features h·dₕ … (h+1)·dₕ − 1."""
    t, d = y.shape
    return y.reshape(t, n_heads, d // n_heads).transpose(1, 0, 2)


def merge_heads(y: np.ndarray) -> np.ndarray:
    """(H, T, dₕ) → (T, d), the inverse of ``split_heads`` (concatenating the heads)."""
    h, t, dh = y.shape
    return y.transpose(1, 0, 2).reshape(t, h * dh)


def project_heads(n_heads: int, which: str) -> Op:
    """Q, K or V: a linear map of the block's input, split into heads."""
    def forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
        return split_heads(x @ w + b, n_heads)

    def backward(g: np.ndarray, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> Arrays:
        return _linear_back(merge_heads(g), x, w, b)

    return Op(f"{which} = split_heads(x W_{which.lower()} + b_{which.lower()})  (H, T, dₕ)",
              "G merged back to (T, d), then as a linear map: dx = G Wᵀ,  dW = xᵀ G,  db = Σₜ G",
              forward, backward)


def _merge_linear(o: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    return merge_heads(o) @ w + b


def _merge_linear_back(g: np.ndarray, o: np.ndarray, w: np.ndarray, b: np.ndarray) -> Arrays:
    d = _linear_back(g, merge_heads(o), w, b)
    return {"o": split_heads(d.pop("x"), o.shape[0]), **d}


OUT_PROJECTION = Op("y = concat_heads(O) W_o + b_o", "dO = split_heads(G W_oᵀ),  dW_o = concat(O)ᵀ G,  db_o = Σₜ G",
                    _merge_linear, _merge_linear_back)


# -- attention ---------------------------------------------------------------------------------------
def _scores(q: np.ndarray, k: np.ndarray) -> np.ndarray:
    return q @ k.transpose(0, 2, 1) / math.sqrt(q.shape[-1])


def _scores_back(g: np.ndarray, q: np.ndarray, k: np.ndarray) -> Arrays:
    s = 1.0 / math.sqrt(q.shape[-1])
    return {"q": g @ k * s, "k": g.transpose(0, 2, 1) @ q * s}


SCORES = Op("S = Q Kᵀ / √dₕ  (per head: query t · key u)", "dQ = G K / √dₕ,  dK = Gᵀ Q / √dₕ", _scores, _scores_back)
MASK = Op("S' = S + M,  M = 0 where a query may look, −1e9 where it may not", "dS = G  (M is a constant)",
          lambda s, m: s + m, lambda g, s, m: {"s": g})


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_back(g: np.ndarray, s: np.ndarray) -> Arrays:
    p = softmax(s)
    return {"s": p * (g - (g * p).sum(axis=-1, keepdims=True))}


SOFTMAX = Op("P = softmax(S') over the keys (each row sums to 1)", "dS' = P ⊙ (G − Σᵤ G ⊙ P)", lambda s: softmax(s),
             _softmax_back)
WEIGHTED = Op("O = P V  (each query's mix of the values)", "dP = G Vᵀ,  dV = Pᵀ G",
              lambda p, v: p @ v, lambda g, p, v: {"p": g @ v.transpose(0, 2, 1), "v": p.transpose(0, 2, 1) @ g})


# -- activations -------------------------------------------------------------------------------------
RELU = Op("y = max(x, 0)", "dx = G ⊙ 1[x > 0]", lambda x: x * (x > 0), lambda g, x: {"x": g * (x > 0)})


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(_SQRT_2_OVER_PI * (x + _GELU_C * x**3)))


def _gelu_back(g: np.ndarray, x: np.ndarray) -> Arrays:
    t = np.tanh(_SQRT_2_OVER_PI * (x + _GELU_C * x**3))
    du = _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_C * x**2)
    return {"x": g * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du)}


GELU = Op("y = ½x(1 + tanh u),  u = √(2/π)(x + 0.044715x³)",
          "dx = G ⊙ (½(1 + tanh u) + ½x(1 − tanh²u)·√(2/π)(1 + 3·0.044715x²))", _gelu, _gelu_back)
ACTIVATIONS = {"relu": RELU, "gelu": GELU}


# -- read-out and loss -------------------------------------------------------------------------------
def _readout_back(g: np.ndarray, h: np.ndarray) -> Arrays:
    dh = np.zeros_like(h)
    dh[0] = g
    return {"h": dh}


READOUT = Op("h = H[0]  (the hidden state at position 0, the operation token)",
             "dH[0] = G, dH[t] = 0 for t > 0  (only position 0 reaches the head)", lambda h: h[0].copy(), _readout_back)


def _targets_dist(logits: np.ndarray, targets: np.ndarray, smoothing: np.ndarray) -> np.ndarray:
    """q = (1−ε)·onehot(y) + ε/C, the distribution the loss compares p with."""
    n, c = logits.shape
    q = np.full((n, c), float(smoothing) / c)
    q[np.arange(n), targets.astype(np.int64)] += 1.0 - float(smoothing)
    return q


def log_softmax(z: np.ndarray) -> np.ndarray:
    """log p = z − max z − log Σ exp(z − max z), with the sum as 1 + (the others), through log1p: a
    confident model's loss (~1e-6) keeps its digits."""
    shifted = z - z.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    np.put_along_axis(e, shifted.argmax(axis=-1)[..., None], 0.0, axis=-1)
    return shifted - np.log1p(e.sum(axis=-1, keepdims=True))


def _cross_entropy(logits: np.ndarray, targets: np.ndarray, weights: np.ndarray, smoothing: np.ndarray) -> np.ndarray:
    z = np.atleast_2d(logits)
    logp = log_softmax(z)
    per_row = -(_targets_dist(z, targets, smoothing) * logp).sum(axis=-1)
    return np.asarray(np.dot(per_row, weights) / weights.sum())


def _cross_entropy_back(g: np.ndarray, logits: np.ndarray, targets: np.ndarray, weights: np.ndarray,
                        smoothing: np.ndarray) -> Arrays:
    z = np.atleast_2d(logits)
    d = (softmax(z) - _targets_dist(z, targets, smoothing)) * (weights / weights.sum())[:, None]
    return {"logits": float(g) * d.reshape(logits.shape)}


CROSS_ENTROPY = Op("L = Σₜ wₜ · (−Σ_c qₜc log pₜc) / Σₜ wₜ,  p = softmax(z),  q = (1−ε)·onehot(y) + ε/C",
                   "dz_t = wₜ (pₜ − qₜ) / Σₜ wₜ  (softmax and log fused: the Jacobian is applied once)",
                   _cross_entropy, _cross_entropy_back)
