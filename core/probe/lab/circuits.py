"""Each head's circuits over the vocabulary: what it looks for (QK) and what it writes (OV), as matrices small
enough to read whole — 21 tokens, up to 32 positions.

For head h of block l, with the block's attention input LN₁(x) (pre-LN; post-LN reads x itself):

    QK over tokens     S[i, j] = (x_i W_Q + b_Q)_h · (x_j W_K + b_K)_h / √dₕ,   x_t = LN₁(E_t + p̄)
    QK over positions  S[a, b] likewise with x_a = LN₁(ē + P_a)
    OV                 O[j, c] = ((x_j W_V + b_V)_h W_O^{(h)}) ⊙ γ_f · W_U[:, c],  x_j = LN₁(E_j + p̄)

E_t is token t's embedding, P_a position a's, p̄ and ē their means over the positions and tokens the
task uses. These are the *direct path* (Elhage et al. 2021): exact for block 0, an approximation for later
blocks (whose input also holds what earlier blocks wrote); the OV map goes straight to the output head
through the final LayerNorm's scale γ_f, its normalisation left out. Row i of QK-over-tokens is "what a
token i looks for"; row j of OV is "what attending to token j writes". A head that copies has its OV map's
largest entry for digit j at the answer j: ``copy_score`` is the share of digits for which it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.data.task import TaskConfig
from core.data.vocab import VOCAB
from core.nn.layers.layernorm import layer_norm
from core.nn.models.factory import Model
from core.probe.lab.components import HeadId, all_heads

DIGIT_IDS = VOCAB.encode([str(d) for d in range(10)])  # the tokens "0" … "9"


@dataclass
class HeadCircuit:
    head: HeadId
    qk_tokens: np.ndarray  # (V, V): query token × key token
    qk_positions: np.ndarray  # (T, T): query position × key position
    ov: np.ndarray  # (V, C): attended token × output
    copy_score: float | None  # share of digits d whose OV row is largest at output d (None: no digit outputs)

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.head.layer, "head": self.head.head, "qk_tokens": self.qk_tokens.tolist(),
                "qk_positions": self.qk_positions.tolist(), "ov": self.ov.tolist(), "copy_score": self.copy_score}


def digit_outputs(model: Model, task: TaskConfig) -> list[int] | None:
    """The output index of each digit 0–9 (the encoder of a 0–9 task: class d; the decoder: token "d")."""
    if model.kind == "decoder":
        return list(DIGIT_IDS)
    return list(range(10)) if task.max_value == 9 else None


def head_circuits(model: Model, task: TaskConfig) -> list[HeadCircuit]:
    """Every head's QK and OV matrices (see the module docstring)."""
    c, dt = model.config, np.float64
    emb = model.embed.table.value.astype(dt)  # (V, d)
    positions = (model.pos.table.value if hasattr(model.pos.table, "value") else model.pos.table).astype(dt)
    used = positions[: min(c.max_len, task.max_expression_tokens + 1)]
    p_mean = used.mean(axis=0)
    e_mean = emb[DIGIT_IDS].mean(axis=0)  # a typical number token
    digits = digit_outputs(model, task)
    unembed = model.head.w.value.astype(dt)
    if model.ln_f is not None:
        unembed = unembed * model.ln_f.gamma.value.astype(dt)[:, None]
    return [_head_circuit(model, head, emb + p_mean, e_mean + used, unembed, digits) for head in all_heads(c)]


def _head_circuit(model: Model, head: HeadId, token_inputs: np.ndarray, position_inputs: np.ndarray,
                  unembed: np.ndarray, digits: list[int] | None) -> HeadCircuit:
    """One head's matrices from residual vectors of each token (V, d) and of each position (T, d)."""
    c, dt = model.config, np.float64
    block = model.blocks[head.layer]
    d, d_head = c.d_model, c.d_model // c.n_heads
    if block.pre_ln:
        gamma, beta = block.ln1.gamma.value.astype(dt), block.ln1.beta.value.astype(dt)
        tok = layer_norm(token_inputs, gamma, beta, block.ln1.eps)
        pos = layer_norm(position_inputs, gamma, beta, block.ln1.eps)
    else:
        tok, pos = token_inputs, position_inputs
    w = block.attn.qkv.w.value.astype(dt)
    assert block.attn.qkv.b is not None
    b = block.attn.qkv.b.value.astype(dt)
    cols = np.arange(head.head * d_head, (head.head + 1) * d_head)

    def project(x: np.ndarray, part: int) -> np.ndarray:  # part 0: Q, 1: K, 2: V
        return x @ w[:, part * d + cols] + b[part * d + cols]

    scale = 1.0 / np.sqrt(d_head)
    qk_tokens = project(tok, 0) @ project(tok, 1).T * scale
    qk_positions = project(pos, 0) @ project(pos, 1).T * scale
    written = project(tok, 2) @ block.attn.out.w.value.astype(dt)[cols]  # (V, d)
    if model.ln_f is not None:
        written = written - written.mean(axis=1, keepdims=True)
    ov = written @ unembed
    copy = None
    if digits is not None:
        block_ov = ov[np.ix_(DIGIT_IDS, digits)]  # digit token × digit output
        copy = float(np.mean(block_ov.argmax(axis=1) == np.arange(10)))
    return HeadCircuit(head, qk_tokens, qk_positions, ov, copy)


def preferred_keys(circuit: HeadCircuit, query: str, k: int = 4) -> list[str]:
    """The ``k`` number tokens a query token most looks for (QK row), best first: e.g. from "Max": 9 8 7 6."""
    row = circuit.qk_tokens[VOCAB.encode([query])[0], DIGIT_IDS]
    return [str(int(i)) for i in np.argsort(-row, kind="stable")[:k]]


def _rank_correlation(row: np.ndarray) -> float:
    """Spearman ρ of a row over the digits 0–9 with the digits' values."""
    ranks = np.argsort(np.argsort(row, kind="stable"), kind="stable").astype(np.float64)
    return float(np.corrcoef(ranks, np.arange(10.0))[0, 1])


def circuit_caption(circuit: HeadCircuit, model: Model, task: TaskConfig) -> str:
    """What the matrices say in one line: which queries look for large or small digits (QK over tokens,
    rank correlation over 0–9) and whether the head copies the digit it attends to (OV)."""
    queries = [op for op in task.operations if op in ("Max", "Min")] if model.kind == "encoder" else ["="]
    parts = []
    for q in queries:
        rho = _rank_correlation(circuit.qk_tokens[VOCAB.encode([q])[0], DIGIT_IDS])
        if abs(rho) >= 0.8:
            parts.append(f"{q} looks for {'large' if rho > 0 else 'small'} digits (ρ {rho:+.2f})")
    text = "QK: " + ", ".join(parts) if parts else ""
    if circuit.copy_score is not None and circuit.copy_score >= 0.8:
        copy = f"OV copies the digit it attends to ({round(circuit.copy_score * 10)}/10)"
        text = f"{text}; {copy}" if text else copy
    return text
