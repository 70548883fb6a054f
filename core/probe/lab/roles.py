"""What each attention head does, read off its attention on held-out data: a one-line caption per head.

From the position where the answer is read (the encoder's position 0; the decoder's "=", where the first
answer token is predicted), each head spreads one unit of attention over the input. Summed over the tokens
of each top-level argument it becomes a mass per argument, a_k. Scores over a split (flat or nested):

    value      Spearman rank correlation of a_k with the arguments' values, averaged over examples
               (+1: the more attention the larger the number, −1: the smaller)
    answer     share of examples whose most-attended argument holds the answer's value
    argument   share of examples whose most-attended argument is the first / second / last
    numbers    share of the attention that goes to arguments at all (the rest: operation and punctuation)

each pooled over the split and per operation. The caption is the strongest of these, e.g. "on Max: the
largest number (ρ 0.96)", or "the first argument (99%)". A caption says where a head looks, not that the
model uses what it finds: ablation (``core.probe.lab.ablation``) tells whether it matters, and the two
agreeing is the evidence (tests/test_lab.py checks they do on the shipped encoder).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.data.batching import EncodedSplit, make_batch
from core.data.expression import Expression
from core.data.task import TaskConfig
from core.nn.models.factory import Model
from core.probe.lab.components import HeadId, all_heads
from core.train.report import split_expressions

#: a score at least this strong makes a caption; below it a head is "spread"
CLEAR = 0.6
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")


def argument_spans(expr: Expression) -> list[tuple[int, int]]:
    """[start, end) token positions of each top-level argument: ``Max(3, 42)`` → [(2, 3), (4, 6)]."""
    spans, start = [], 2  # after "Op" and "("
    for a in expr.args:
        n = len(a.tokens()) if isinstance(a, Expression) else len(str(a))
        spans.append((start, start + n))
        start += n + 1  # and the "," or ")"
    return spans


@dataclass
class HeadRole:
    head: HeadId
    caption: str
    strength: float  # the caption's score, 0–1
    scores: dict[str, float] = field(default_factory=dict)  # pooled over the split
    by_operation: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.head.layer, "head": self.head.head, "caption": self.caption,
                "strength": self.strength, "scores": self.scores, "by_operation": self.by_operation}


def _spearman(mass: np.ndarray, values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Per row (and head), the rank correlation of mass (B, H, A) with values (B, A) over the valid
    arguments; NaN where the values are all equal. Ties in either are ranked by order (no averaging): the
    score is a reading aid, not a statistic."""
    big = np.where(valid, values, np.inf)
    vr = np.argsort(np.argsort(big, axis=-1, kind="stable"), axis=-1).astype(np.float64)
    mr = np.argsort(np.argsort(np.where(valid[:, None], mass, np.inf), axis=-1, kind="stable"),
                    axis=-1).astype(np.float64)
    n = valid.sum(axis=-1, keepdims=True).astype(np.float64)  # (B, 1)
    w = valid.astype(np.float64)
    vc = (vr - (vr * w).sum(-1, keepdims=True) / n) * w
    mc = (mr - (mr * w[:, None]).sum(-1, keepdims=True) / n[:, None]) * w[:, None]
    num = (mc * vc[:, None]).sum(-1)
    den = np.sqrt((mc ** 2).sum(-1) * (vc ** 2).sum(-1)[:, None])
    distinct = np.array([len(set(v[m].tolist())) > 1 for v, m in zip(values, valid, strict=True)])
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = num / den
    rho[~distinct] = np.nan
    return rho


def readout_masses(model: Model, split: EncodedSplit, expressions: Sequence[Expression], batch_size: int = 256
                   ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Per layer the attention mass (N, H, A) on each top-level argument from the answer position, with the
    arguments' values (N, A) and which exist (N, A)."""
    n = len(expressions)
    width = max(len(e.args) for e in expressions)
    values = np.zeros((n, width))
    valid = np.zeros((n, width), dtype=bool)
    for i, e in enumerate(expressions):
        vals = [a.evaluate() if isinstance(a, Expression) else a for a in e.args]
        values[i, : len(vals)] = vals
        valid[i, : len(vals)] = True
    masses: list[list[np.ndarray]] = [[] for _ in model.blocks]
    with model.eval_mode():
        for start in range(0, n, batch_size):
            idx = np.arange(start, min(n, start + batch_size))
            batch = make_batch(split, idx)
            model.forward(batch.tokens, batch.pad_mask)
            time = batch.tokens.shape[1]
            spans = np.zeros((idx.size, width, time))
            for r, row in enumerate(idx.tolist()):
                for k, (a, b) in enumerate(argument_spans(expressions[row])):
                    spans[r, k, a:b] = 1.0
            readout = np.array([model.readout_position(int(p)) for p in batch.prompt_lengths])
            for layer, maps in enumerate(model.attention_maps()):
                p = maps[np.arange(idx.size), :, readout, :].astype(np.float64)  # (B, H, T)
                masses[layer].append(np.einsum("bht,bat->bha", p, spans))
    return [np.concatenate(m) for m in masses], values, valid


def _scores(mass: np.ndarray, values: np.ndarray, valid: np.ndarray, answers: np.ndarray) -> dict[str, np.ndarray]:
    """Per-example scores (N, H) of one layer's heads (see the module docstring)."""
    top = np.argmax(np.where(valid[:, None], mass, -np.inf), axis=-1)  # (N, H)
    top_value = np.take_along_axis(values, top, axis=1)
    last = valid.sum(axis=-1)[:, None] - 1
    return {
        "value": _spearman(mass, values, valid),
        "answer": (top_value == answers[:, None]).astype(np.float64),
        "first": (top == 0).astype(np.float64),
        "second": (top == 1).astype(np.float64),
        "last": (top == last).astype(np.float64),
        "numbers": mass.sum(axis=-1),
    }


def _caption(pooled: dict[str, float], per_op: dict[str, dict[str, float]]) -> tuple[str, float]:
    """The strongest description of a head's scores, and its strength."""
    candidates: list[tuple[float, str]] = []

    def add(scores: dict[str, float], where: str) -> None:
        rho = scores.get("value", float("nan"))
        if np.isfinite(rho):
            kind = "the largest number" if rho > 0 else "the smallest number"
            candidates.append((abs(rho), f"{kind}{where} (rank correlation {rho:+.2f})"))
        for key in ("first", "second", "last"):
            candidates.append((scores[key], f"the {key} argument{where} ({scores[key]:.0%} of examples)"))
        candidates.append((scores["answer"], f"the argument holding the answer{where} ({scores['answer']:.0%})"))
        other = 1.0 - scores["numbers"]
        candidates.append((other, f"the operation and punctuation{where} ({other:.0%} of its attention)"))

    add(pooled, "")
    best_pooled = max(candidates)
    if best_pooled[0] >= 0.8:
        caption = "attends to " + best_pooled[1]
        if best_pooled[1].startswith("the argument holding the answer") and len(per_op) > 1:
            op, weakest = min(((op, s["answer"]) for op, s in per_op.items()), key=lambda kv: kv[1])
            caption = caption[:-1] + f"; lowest on {op}: {weakest:.0%})"
        return caption, best_pooled[0]
    candidates.clear()
    for op, scores in per_op.items():
        add(scores, f" on {op}")
    ranked = sorted(candidates, reverse=True)
    if not ranked or ranked[0][0] < CLEAR:
        if best_pooled[0] >= CLEAR:
            return "attends to " + best_pooled[1], best_pooled[0]
        return f"no clear role: attention spread ({pooled['numbers']:.0%} on numbers)", best_pooled[0]
    # the two strongest per-operation readings, of different operations
    chosen = [ranked[0]]
    for c in ranked[1:]:
        if c[0] >= 0.8 and _operation_of(c[1]) != _operation_of(chosen[0][1]):
            chosen.append(c)
            break
    return "attends to " + "; ".join(c[1] for c in chosen), ranked[0][0]


def _operation_of(reading: str) -> str:
    """The operation a per-operation reading is about: "… on Max (…)" → "Max"."""
    return reading.split(" (")[0].rsplit(" on ", 1)[-1]


def head_roles(model: Model, task: TaskConfig, split: EncodedSplit, max_examples: int = 1_000) -> list[HeadRole]:
    """A caption for every head, from its attention at the answer position on (up to ``max_examples`` of)
    ``split``."""
    n = min(len(split), max_examples)
    exprs = split_expressions(split, task)[:n]
    masses, values, valid = readout_masses(model, split, exprs)
    answers, ops = split.answers[:n].astype(np.float64), split.op_ids[:n]
    roles = []
    for head in all_heads(model.config):
        per_example = {k: v[:, head.head] for k, v in _scores(masses[head.layer], values, valid, answers).items()}
        pooled = {k: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan") for k, v in per_example.items()}
        per_op: dict[str, dict[str, float]] = {}
        for o in np.unique(ops):
            sel = ops == o
            per_op[task.operations[int(o)]] = {
                k: float(np.nanmean(v[sel])) if np.isfinite(v[sel]).any() else float("nan")
                for k, v in per_example.items()}
        caption, strength = _caption(pooled, per_op)
        roles.append(HeadRole(head, caption, strength, pooled, per_op))
    return roles
