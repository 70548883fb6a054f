"""The forward pass of one example, stage by stage, recorded on a tape.

    x₀ = E[ids] + P[0:T]
    per block (pre-LN):   a = LN₁(x);  Q, K, V = a W_{q,k,v} + b;  S = QKᵀ/√dₕ + M;  P = softmax(S)
                          x = x + concat(P V) W_o + b_o;  x = x + act(LN₂(x) W₁ + b₁) W₂ + b₂
    (post-LN:             the sublayers read x itself and LN₁, LN₂ follow the residual sums)
    then LN_f (pre-LN only); encoder: logits = H[0] W + b (one class per answer);
    decoder: logits = H W + b at every position (the next token); L = masked cross-entropy.

Parameters are read by their model names (``model.params``), converted to float64; dropout is off
(the trace shows the deterministic pass an evaluation sees). ``record_logits`` is the same pass without
the loss, over an input that may end in [PAD] tokens (the mask hides them): what the lessons' cells read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from core.data.vocab import VOCAB
from core.nn.config import ModelConfig
from core.nn.layers.attention import MASK_VALUE
from core.nn.layers.positional import sinusoidal_table
from core.probe.trace import ops
from core.probe.trace.stage import Axis
from core.probe.trace.tape import Node, Param, Tape


def record_forward(config: ModelConfig, params: Mapping[str, np.ndarray], ids: Sequence[int], tokens: Sequence[str],
                   targets: Sequence[int], weights: Sequence[float], label_smoothing: float = 0.0) -> Tape:
    """The tape of one example: ``ids`` (T,) the input, ``targets`` and ``weights`` what the loss scores
    (encoder: one target class, weight 1; decoder: the next token at each position, weight 1 on the
    answer's positions). The last node is the loss."""
    tape = record_logits(config, params, ids, tokens)
    tape.run("loss", ops.CROSS_ENTROPY, "loss", (), _loss_note(config.kind, weights), logits=tape.nodes[-1],
             targets=np.asarray(targets, dtype=np.float64), weights=np.asarray(weights, dtype=np.float64),
             smoothing=np.asarray(label_smoothing, dtype=np.float64))
    return tape


def record_logits(config: ModelConfig, params: Mapping[str, np.ndarray], ids: Sequence[int], tokens: Sequence[str],
                  n_real: int | None = None) -> Tape:
    """The tape of the forward pass of ``ids`` (T,) up to the logits (its last node), without a loss.
    ``ids[n_real:]`` are padding: every query's mask hides them, as the model's pad mask does."""
    c = config
    t = len(ids)
    n_real = t if n_real is None else n_real
    tape = Tape(params)
    pos_axis = Axis("position", tuple(f"{i}:{tok}" for i, tok in enumerate(tokens)))
    key_axis = Axis("key", pos_axis.labels)
    query_axis = Axis("query", pos_axis.labels)
    head_axis = Axis("head", tuple(f"h{h}" for h in range(c.n_heads)))
    feat, hidden = Axis("feature"), Axis("hidden unit")
    td = (pos_axis, feat)
    x: Node = tape.run("embedding", ops.EMBEDDING, "token embedding", td,
                       "each token id picks its row of the embedding table E (vocab × d)",
                       ids=np.asarray(ids, dtype=np.float64), table=Param("embed.weight"))
    if c.positional == "learned":
        pos: Param | np.ndarray = Param("pos.weight", (slice(0, t),))
        how = "learned: rows 0…T−1 of the trained table P"
    else:
        pos = sinusoidal_table(c.max_len, c.d_model)[:t]
        how = "sinusoidal: P[t, 2i] = sin(t/10000^(2i/d)), P[t, 2i+1] = cos(…), fixed"
    x = tape.run("positions", ops.ADD_POSITIONS, "+ positions", td,
                 f"attention itself is order-blind, so each position adds its own vector ({how})", x=x, pos=pos)
    mask = _mask(t, c.kind == "decoder", n_real)
    for i in range(c.n_layers):
        x = _block(tape, c, i, x, mask, n_real < t, td, (head_axis, query_axis, key_axis),
                   (head_axis, pos_axis, Axis("d_head")), (pos_axis, hidden))
    if c.norm == "pre":
        x = tape.run("ln_f", ops.LAYER_NORM, "final LayerNorm", td,
                     "pre-LN leaves the residual stream unnormalised, so one LayerNorm precedes the head",
                     x=x, gamma=Param("ln_f.gamma"), beta=Param("ln_f.beta"))
    if c.kind == "encoder":
        x = tape.run("readout", ops.READOUT, "read out position 0", (feat,),
                     f"the encoder answers from the hidden state of position 0 ({tokens[0]}), which has attended to "
                     "the whole expression", h=x)
        out_axes: tuple[Axis, ...] = (Axis("class", tuple(str(k) for k in range(c.num_classes))),)
        head_note = "one score per possible answer 0…" + str(c.num_classes - 1)
    else:
        out_axes = (pos_axis, Axis("next token", VOCAB.tokens[: c.vocab_size]))
        head_note = "at every position, a score for each possible next token (teacher forcing: all positions at once)"
    tape.run("logits", ops.LINEAR, "logits (the head)", out_axes, head_note, x=x, w=Param("head.w"), b=Param("head.b"))
    return tape


def _mask(t: int, causal: bool, n_real: int) -> np.ndarray:
    """M (T, T): 0 where query t may read key u, −1e9 where it may not (the future, for a decoder; the
    padding keys u ≥ n_real, for every query — both for a padded future key, as ``attention_bias`` adds them)."""
    m = np.triu(np.full((t, t), MASK_VALUE), k=1) if causal else np.zeros((t, t))
    m[:, n_real:] += MASK_VALUE
    return m


def _block(tape: Tape, c: ModelConfig, i: int, x: Node, mask: np.ndarray, padded: bool, td: tuple[Axis, ...],
           hqk: tuple[Axis, ...], htd: tuple[Axis, ...], tf: tuple[Axis, ...]) -> Node:
    p, n, pre = f"blocks.{i}", f"block {i + 1}", c.norm == "pre"
    d = c.d_model

    def ln(which: str, inp: Node) -> Node:
        return tape.run(f"{p}.{which}", ops.LAYER_NORM, f"{n} · LayerNorm {which[-1]}", td,
                        "each position's features are centred and scaled to unit variance, then γ, β are applied",
                        x=inp, gamma=Param(f"{p}.{which}.gamma"), beta=Param(f"{p}.{which}.beta"))

    a = ln("ln1", x) if pre else x
    qkv = {}
    for j, which in enumerate("QKV"):
        cols = (slice(j * d, (j + 1) * d),)
        qkv[which] = tape.run(f"{p}.attn.{which.lower()}", ops.project_heads(c.n_heads, which),
                              f"{n} · {which} ({'queries' if j == 0 else 'keys' if j == 1 else 'values'})", htd,
                              f"columns {j * d}…{(j + 1) * d - 1} of qkv.w, split into {c.n_heads} heads of "
                              f"{d // c.n_heads}", x=a, w=Param(f"{p}.attn.qkv.w", (slice(None), *cols)),
                              b=Param(f"{p}.attn.qkv.b", cols))
    s = tape.run(f"{p}.attn.scores", ops.SCORES, f"{n} · head scores QKᵀ/√dₕ", hqk,
                 "how strongly each query position matches each key position, per head", q=qkv["Q"], k=qkv["K"])
    why = ("causal: query t sees only keys u ≤ t, so no position reads a token that comes after it — the answer "
           "digit a position must predict is never in its own view" if c.kind == "decoder" else
           "bidirectional: every position sees every other" + ("" if padded else
                                                               " (one unpadded example has no padding to hide)"))
    why += "; the [PAD] keys are hidden from every query" if padded else ""
    s = tape.run(f"{p}.attn.mask", ops.MASK, f"{n} · mask", hqk, why, s=s, m=mask)
    w = tape.run(f"{p}.attn.softmax", ops.SOFTMAX, f"{n} · attention weights", hqk,
                 "row t: how query t spreads its attention over the keys (masked keys get exactly 0)", s=s)
    o = tape.run(f"{p}.attn.weighted", ops.WEIGHTED, f"{n} · weighted values", htd,
                 "each query's average of the value vectors, weighted by its attention", p=w, v=qkv["V"])
    y = tape.run(f"{p}.attn.out", ops.OUT_PROJECTION, f"{n} · output projection", td,
                 "the heads are concatenated and mixed back into the residual width", o=o,
                 w=Param(f"{p}.attn.out.w"), b=Param(f"{p}.attn.out.b"))
    x = tape.run(f"{p}.residual1", ops.RESIDUAL, f"{n} · residual (attention)", td,
                 "the sublayer's output is added to the stream it read", "the gradient flows around the sublayer "
                 "unchanged (skip path) and through it", x=x, f=y)
    if not pre:
        x = ln("ln1", x)
    h = tape.run(f"{p}.ffn.fc1", ops.LINEAR, f"{n} · FFN expand", tf, f"each position alone: d = {d} → d_ff = "
                 f"{c.d_ff}", x=ln("ln2", x) if pre else x, w=Param(f"{p}.ffn.fc1.w"), b=Param(f"{p}.ffn.fc1.b"))
    h = tape.run(f"{p}.ffn.act", ops.ACTIVATIONS[c.activation], f"{n} · FFN {c.activation}", tf,
                 "the non-linearity: without it the two linear maps would collapse into one", x=h)
    h = tape.run(f"{p}.ffn.fc2", ops.LINEAR, f"{n} · FFN project", td, f"back to d = {d}", x=h,
                 w=Param(f"{p}.ffn.fc2.w"), b=Param(f"{p}.ffn.fc2.b"))
    x = tape.run(f"{p}.residual2", ops.RESIDUAL, f"{n} · residual (FFN)", td,
                 "the FFN's output is added to the stream", "the gradient flows around the FFN unchanged and "
                 "through it", x=x, f=h)
    return ln("ln2", x) if not pre else x


def _loss_note(kind: str, weights: Sequence[float]) -> str:
    if kind == "encoder":
        return "cross-entropy of the answer class: −log p[answer]"
    scored = [i for i, w in enumerate(weights) if w > 0]
    return (f"only positions {scored[0]}…{scored[-1]} are scored (from '=' on: each predicts the next answer digit, "
            "then [EOS]); the prompt positions have weight 0")
