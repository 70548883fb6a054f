"""Live cells of the forward pass: tokens, embeddings, positions, attention, the residual stream, LayerNorm,
the FFN's ReLUs, the readout and the loss — each the real numbers of the learner's model on one expression.

Every function takes a ``CellInput`` (the model, its task and the parsed expression, with the float64
``trace`` of its forward pass computed once) and the cell's parameters, and returns a ``CellResult``.
The formulas are in each caption; the numbers are the stages of the step debugger's forward pass
(``core.probe.trace.trace_forward``): ``blocks.0.attn.q`` (H, T, dₕ), ``blocks.0.attn.softmax`` (H, T, T),
``blocks.0.ffn.fc1`` (T, d_ff) the FFN's pre-activations, and each stage's ``inputs`` (LayerNorm's x, the mask M).
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from core.data.answer_format import answer_tokens
from core.data.expression import Expression
from core.data.operations import Answer
from core.data.sampling import ExpressionSampler
from core.data.task import TaskConfig
from core.data.vocab import VOCAB
from core.nn.layers.softmax import softmax
from core.nn.models.factory import Model
from core.probe.cell_table import CellResult, Table, not_applicable
from core.probe.logit_lens import logit_lens
from core.probe.trace import ForwardTrace, trace_forward

VOCAB_LINE = 56  # characters of id:token pairs per line of the tokens cell's vocabulary note


@dataclass
class CellInput:
    """What every cell reads: the model, its task, the expression and its ``ids`` (the model's input),
    plus ``n_pad`` padding tokens appended (to show the padding mask at work)."""

    model: Model
    task: TaskConfig
    text: str
    expression: Expression
    ids: list[int]
    n_pad: int = 0

    @cached_property
    def trace(self) -> ForwardTrace:
        return trace_forward(self.model, self.ids, self.n_pad)

    @property
    def tokens(self) -> list[str]:
        return VOCAB.decode(self.ids + [VOCAB.pad_id] * self.n_pad)

    @property
    def labels(self) -> list[str]:
        """Row labels "position token"."""
        return [f"{i} {t}" for i, t in enumerate(self.tokens)]

    @property
    def readout(self) -> int:
        return self.model.readout_position(len(self.ids))

    @property
    def truth(self) -> Answer:
        return self.expression.answer()


def check_layer_head(model: Model, layer: int, head: int | None = None) -> str | None:
    """Why ``layer``/``head`` does not exist in this model, or None."""
    c = model.config
    if not 0 <= layer < c.n_layers:
        return f"layer {layer} does not exist: this model has layers 0..{c.n_layers - 1}"
    if head is not None and not 0 <= head < c.n_heads:
        return f"head {head} does not exist: this model has heads 0..{c.n_heads - 1}"
    return None


def cell_tokens(inp: CellInput) -> CellResult:
    m = inp.model
    pad = inp.n_pad
    ids = inp.ids + [VOCAB.pad_id] * pad
    toks = VOCAB.decode(ids)
    what = ("the expression's tokens" if m.kind == "encoder"
            else 'the expression\'s tokens and "=", after which the answer is written')
    table = Table("token ids", [f"{i} {t}" for i, t in enumerate(toks)], ["id"], np.array(ids, float)[:, None], 0)
    known = VOCAB.tokens[: m.config.vocab_size]
    pairs = [f"{i}:{t}" for i, t in enumerate(known)]
    # wrapped to fit the lesson reader at 80 columns (a 75-character first line lost "10:7" to the crop)
    notes = [f"vocabulary, {len(known)} tokens:", *("  " + line for line in textwrap.wrap(" ".join(pairs),
                                                                                         VOCAB_LINE))]
    if pad:
        notes.append(f"{pad} × [PAD] (id {VOCAB.pad_id}) appended: the pad mask keeps them out of attention")
    return CellResult("tokens", f"Tokens of {inp.expression}",
                      f"The {m.kind} reads {what}: {len(inp.ids)} ids. Numbers are written digit by digit, so "
                      f"42 is the two tokens 4 2.", [table], notes, [("inference", {"expression": inp.text})])


def cell_embedding_rows(inp: CellInput, dims: int = 8) -> CellResult:
    emb = inp.model.params["embed.weight"].value.astype(np.float64)
    k = min(dims, emb.shape[1])
    table = Table(f"E[id], dims 0..{k - 1} of {emb.shape[1]}", inp.labels[: len(inp.ids)],
                  [f"d{j}" for j in range(k)], emb[inp.ids, :k], 2)
    norms = ", ".join(f"{t}:{np.linalg.norm(emb[i]):.2f}" for t, i in zip(inp.tokens, inp.ids, strict=False))
    return CellResult("embedding_rows", "Embedding rows",
                      f"Each token id selects one row of the {emb.shape[0]}×{emb.shape[1]} table embed.weight: "
                      "x_t = E[id_t]. The same token always gets the same row, wherever it stands.",
                      [table], [f"‖E[id]‖: {norms}"],
                      [("inspector", {"param": "embed.weight"}), ("embeddings", {})])


def cell_positions(inp: CellInput, dims: int = 8) -> CellResult:
    m = inp.model
    n = len(inp.ids)
    table_all = inp.trace.stage("positions").inputs["pos"][:n]  # P[0:T], what the trace added
    k = min(dims, table_all.shape[1])
    table = Table(f"position signal P[t], dims 0..{k - 1}", inp.labels[:n], [f"d{j}" for j in range(k)],
                  table_all[:, :k], 2)
    if m.config.positional == "learned":
        how, actions = "learned: the rows of pos.weight, trained like any weight", [
            ("inspector", {"param": "pos.weight"})]
    else:
        how, actions = "fixed sinusoids: P[t, 2i] = sin(t/10000^(2i/d)), P[t, 2i+1] = cos(t/10000^(2i/d))", []
    x0 = inp.trace.stream[0][:n]
    return CellResult("positions", "Positions",
                      f"Attention by itself ignores order, so the input is x_t = E[id_t] + P[t]; here P is {how}.",
                      [table], ["‖x_t‖ after adding: " + ", ".join(f"{v:.2f}" for v in np.linalg.norm(x0, axis=1))],
                      actions)


def cell_attention_qk(inp: CellInput, layer: int = 0, head: int = 0, dims: int = 4) -> CellResult:
    m = inp.model
    why = check_layer_head(m, layer, head)
    if why:
        return not_applicable("attention_qk", "Attention, step by step", why)
    tr = inp.trace
    dh = m.config.d_model // m.config.n_heads
    k = min(dims, dh)
    labels, cols = inp.labels, inp.tokens
    scores, weights = tr.block(layer, "attn.scores")[head], tr.block(layer, "attn.softmax")[head]
    masked = np.where(tr.stage(f"blocks.{layer}.attn.mask").inputs["m"] < 0, -np.inf, scores)
    tables = [Table(f"Q (dims 0..{k - 1} of dₕ={dh})", labels, [f"q{j}" for j in range(k)],
                    tr.block(layer, "attn.q")[head, :, :k], 2),
              Table(f"K (dims 0..{k - 1})", labels, [f"k{j}" for j in range(k)], tr.block(layer, "attn.k")[head, :, :k],
                    2),
              Table(f"scores S = Q Kᵀ / √{dh}", labels, cols, scores, 2),
              Table("masked scores S + M", labels, cols, masked, 2),
              Table("softmax P (each row sums to 1)", labels, cols, weights, 2)]
    mask = ("causal: a query sees itself and earlier tokens only" if m.causal
            else "bidirectional: every query sees every real token")
    return CellResult("attention_qk", f"Attention, layer {layer} head {head}",
                      f"Row t is the query at position t, column s the key at s. S = Q Kᵀ/√dₕ, then the mask M "
                      f"(−∞ at padding keys{' and future tokens' if m.causal else ''}; {mask}), then softmax "
                      f"along the row: P = softmax(S + M).", tables,
                      [f"row sums of P: {', '.join(f'{s:.3f}' for s in weights.sum(axis=1))}"],
                      [("attention", {"layer": layer, "head": head, "expression": inp.text}),
                       ("inspector", {"param": f"blocks.{layer}.attn.qkv.w"})])


def cell_heads(inp: CellInput) -> CellResult:
    m = inp.model
    r = inp.readout
    rows, vals = [], []
    for li in range(m.config.n_layers):
        for h in range(m.config.n_heads):
            rows.append(f"{li}.{h}")
            vals.append(inp.trace.block(li, "attn.softmax")[h, r])
    table = Table(f"attention of position {r} ({inp.tokens[r]}) per layer.head", rows, inp.tokens, np.array(vals), 2)
    return CellResult("heads", "Every head at the readout position",
                      f"Row L.H is head H of layer L: how position {r}, where the answer is read, spreads its "
                      "attention over the tokens. Heads of one layer run side by side on slices of dₕ = "
                      f"{m.config.d_model // m.config.n_heads} dims; W_o mixes their outputs.", [table], [],
                      [("attention", {"layer": 0, "head": 0, "expression": inp.text})])


def cell_residual(inp: CellInput) -> CellResult:
    n = len(inp.ids)
    stream = inp.trace.stream
    names = ["embed", *(f"after {i}" for i in range(len(stream) - 1))]
    norms = np.stack([np.linalg.norm(h[:n], axis=1) for h in stream], axis=1)
    return CellResult("residual", "The residual stream",
                      "‖h_t‖ per position: h₀ = E[id] + P[t], then each block adds to it: h_l = h_(l−1) + Attn + FFN "
                      "(pre-LN). The stream is never normalised in between, so its norm can grow block by block.",
                      [Table("‖h‖ per position", inp.labels[:n], names, norms, 2)], [],
                      [("logit_lens", {"expression": inp.text})])


def cell_layernorm(inp: CellInput, layer: int = 0, which: int = 1) -> CellResult:
    why = check_layer_head(inp.model, layer)
    if why or which not in (1, 2):
        return not_applicable("layernorm", "LayerNorm", why or "which is 1 (ln1) or 2 (ln2)")
    n = len(inp.ids)
    x = inp.trace.stage(f"blocks.{layer}.ln{which}").inputs["x"][:n]  # what the LayerNorm normalises
    mu, var = x.mean(axis=1), x.var(axis=1)
    xhat = (x - mu[:, None]) / np.sqrt(var[:, None] + 1e-5)
    vals = np.stack([mu, var, xhat.mean(axis=1), xhat.var(axis=1)], axis=1)
    name = f"blocks.{layer}.ln{which}"
    return CellResult("layernorm", f"LayerNorm {name}",
                      "Per position: μ = mean(x), σ² = var(x) over the d features, x̂ = (x − μ)/√(σ² + ε), then "
                      "y = γ ⊙ x̂ + β. After normalising, every position has mean 0 and variance ≈ 1.",
                      [Table("statistics per position", inp.labels[:n], ["mean", "var", "mean x̂", "var x̂"], vals, 3)],
                      [], [("inspector", {"param": f"{name}.gamma"})])


def sample_expressions(model: Model, task: TaskConfig, n: int, seed: int = 0) -> list[Expression]:
    """``n`` expressions drawn from ``task``, less those too long for the model."""
    sampler = ExpressionSampler(task)
    rng = np.random.default_rng(seed)
    keys = sampler.draw(rng, rng.integers(0, len(task.operations), size=n))
    return [e for e in (sampler.build(k) for k in keys) if model.fits(e, task)]


def sample_traces(model: Model, task: TaskConfig, n: int, seed: int = 0) -> list[tuple[Expression, ForwardTrace]]:
    """``sample_expressions`` with the forward trace of each one's prompt."""
    return [(e, trace_forward(model, model.prompt_ids(e))) for e in sample_expressions(model, task, n, seed)]


def cell_dead_relus(inp: CellInput, sample: int = 200) -> CellResult:
    m = inp.model
    n = len(inp.ids)
    traces = [t for _, t in sample_traces(m, inp.task, sample)]
    rows, vals = [], []
    for li in range(m.config.n_layers):
        here = (inp.trace.block(li, "ffn.fc1")[:n] > 0).any(axis=0)  # fc1: the pre-activations u = x W₁ + b₁
        on = np.concatenate([t.block(li, "ffn.fc1") for t in traces]) > 0  # (every token of the sample, d_ff)
        rows.append(f"layer {li} ({here.size} units)")
        vals.append([1 - here.mean(), 1 - on.any(axis=0).mean(), on.mean()])
    act = m.config.activation
    extra = "" if act == "relu" else " (GELU is never exactly 0, so for it 'dead' means a pre-activation never > 0)"
    return CellResult("dead_relus", "Dead FFN units",
                      f"The FFN computes act(x W₁ + b₁). A unit whose pre-activation is ≤ 0 on every input outputs 0 "
                      f"and gets no gradient through a ReLU: it is dead{extra}. Shares of the d_ff units.",
                      [Table(f"FFN units ({act})", rows, ["off here", f"off on {len(traces)}", "active share"],
                             np.array(vals, float), 3)], [],
                      [("inspector", {"param": "blocks.0.ffn.fc1.w"})])


def readout_logits(inp: CellInput) -> tuple[np.ndarray, list[int | str]]:
    """The logits at the readout position (the encoder's head reads only position 0) and their labels."""
    z = inp.trace.values("logits")
    return (z if inp.model.kind == "encoder" else z[inp.readout]), inp.model.output_labels()


def cell_logits(inp: CellInput, top: int = 5) -> CellResult:
    z, labels = readout_logits(inp)
    p = softmax(z)
    order = np.argsort(-z, kind="stable")[: max(1, top)]
    rows = [str(labels[i]) for i in order]
    what = "class (the whole answer)" if inp.model.kind == "encoder" else "token (the first answer digit)"
    return CellResult("logits", "Logits and probabilities at the readout",
                      f"At position {inp.readout} ({inp.tokens[inp.readout]}) the head gives one logit z per {what}; "
                      "p = softmax(z) = exp(z_i) / Σ_j exp(z_j). Only differences between logits matter.",
                      [Table(f"top {len(order)} of {z.size}", rows, ["logit", "p"], np.stack([z[order], p[order]], 1),
                             3)], [f"true answer {inp.truth}; max logit {z.max():.3f}, Σ exp(z − max) = "
                                   f"{np.exp(z - z.max()).sum():.3f}"],
                      [("inference", {"expression": inp.text}), ("inspector", {"param": "head.w"})])


def example_loss(inp: CellInput) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(label per scored prediction, p(target), −log p(target)): encoder one class, decoder teacher forcing."""
    m = inp.model
    if m.kind == "encoder":
        p = softmax(readout_logits(inp)[0])
        return [f"class {inp.truth}"], p[[inp.truth]], -np.log(p[[inp.truth]])
    answer = [*VOCAB.encode(answer_tokens(inp.truth)), VOCAB.eos_id]
    full = inp.ids + answer
    start = len(inp.ids) - 1
    probs = softmax(trace_forward(m, full[:-1]).values("logits")[start:])
    pt = probs[np.arange(len(answer)), answer]
    labels = [f"{start + j} {VOCAB.tokens[full[start + j]]} → {VOCAB.tokens[a]}" for j, a in enumerate(answer)]
    return labels, pt, -np.log(pt)


def cell_loss(inp: CellInput) -> CellResult:
    m = inp.model
    labels, p, nll = example_loss(inp)
    n = m.config.num_classes if m.kind == "encoder" else m.config.vocab_size
    what = "classes" if m.kind == "encoder" else "tokens per prediction"
    return CellResult("loss", "Cross-entropy loss of this example",
                      "L = −log p(target). A model that knows nothing spreads p evenly over its N outputs, "
                      f"so it starts at L = ln N; this model has N = {n} {what}."
                      + (" The decoder's loss is the mean over the answer's digits and [EOS]." if m.kind == "decoder"
                         else ""),
                      [Table("scored predictions", labels, ["p(target)", "−log p"], np.stack([p, nll], 1), 4)],
                      [f"loss = {nll.mean():.4f}   ln {n} = {math.log(n):.4f}"],
                      [("training", {"chart": "loss"})])


def cell_logit_lens(inp: CellInput, top: int = 5) -> CellResult:
    res = logit_lens(inp.model, inp.task, inp.text, top_k=top)
    if res.error:
        return not_applicable("logit_lens", "Logit lens", res.error)
    final = np.argsort(-res.probs[-1], kind="stable")[: max(1, top)]
    return CellResult("logit_lens", "The answer after each layer (logit lens)",
                      "p_l = softmax(LN_f(h_l) W + b): the head applied to the residual stream after layer l, as if "
                      "the model stopped there. Columns: the answers most likely at the end.",
                      [Table(f"p at position {res.position}", res.layer_names, [str(res.labels[i]) for i in final],
                             res.probs[:, final], 3)], [],
                      [("logit_lens", {"expression": inp.text})])


def cell_param_count(inp: CellInput, block: int = 0) -> CellResult:
    m = inp.model
    why = check_layer_head(m, block)
    if why:
        return not_applicable("param_count", "Parameter counts", why)
    rows, vals = [], []
    per_block = 0
    for p in m.params:
        if p.name.startswith(f"blocks.{block}."):
            per_block += p.size
        if not p.name.startswith("blocks.") or p.name.startswith(f"blocks.{block}."):
            shape = list(p.shape) + [math.nan] * (2 - len(p.shape))
            rows.append(p.name)
            vals.append([*shape, p.size])
    rows += [f"one block (blocks.{block})", f"{m.config.n_layers} blocks", "model"]
    vals += [[math.nan, math.nan, per_block], [math.nan, math.nan, per_block * m.config.n_layers],
             [math.nan, math.nan, m.num_parameters]]
    c = m.config
    return CellResult("param_count", "Where the parameters are",
                      f"d_model = {c.d_model}, d_ff = {c.d_ff}, vocab = {c.vocab_size}. A Linear layer d_in → d_out "
                      "has d_in·d_out weights and d_out biases; a LayerNorm 2d (γ and β).",
                      [Table("tensors", rows, ["rows", "cols", "count"], np.array(vals, float), 0)], [],
                      [("inspector", {"param": f"blocks.{block}.attn.qkv.w"})])
