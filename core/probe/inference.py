"""Answer typed expressions with a model: the prediction, its probabilities and the attention used.

Used by the CLI's ``predict``, the session's probes and the workbench's inference console. Every
failure a user can cause (an unparsable expression, one outside the model's task) comes back as a
``Prediction`` with ``error`` set, so a batch with one bad line still answers the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from core.data.answer_format import decode_answer
from core.data.expression import Expression, parse_expression
from core.data.operations import Answer
from core.data.task import TaskConfig
from core.data.vocab import VOCAB
from core.errors import ExpressionError
from core.nn.layers.softmax import softmax
from core.nn.models.decoder import TransformerDecoder
from core.nn.models.factory import Model


@dataclass
class Prediction:
    text: str
    expression: Expression | None = None
    answer: Answer | None = None  # the model's answer, a number or (Sort) a list; None if it wrote neither
    truth: Answer | None = None
    top: list[tuple[Answer, float]] = field(default_factory=list)  # (answer, probability), best first
    steps: list[list[tuple[str, float]]] = field(default_factory=list)  # decoder: top tokens at each step
    tokens: list[str] = field(default_factory=list)  # input tokens (decoder: prompt + generated)
    attention: list[np.ndarray] = field(default_factory=list)  # per layer (H, T, T)
    error: str | None = None
    error_position: int | None = None  # 0-based column of ``text`` where a parse error was found

    @property
    def correct(self) -> bool:
        return self.error is None and self.answer is not None and self.answer == self.truth

    def to_dict(self) -> dict[str, object]:
        return {"expression": self.text if self.expression is None else str(self.expression),
                "answer": self.answer, "truth": self.truth, "correct": self.correct if self.error is None else None,
                "top": [{"answer": a, "probability": round(p, 6)} for a, p in self.top], "error": self.error}


def predict(model: Model, task: TaskConfig, texts: Sequence[str], top_k: int = 5) -> list[Prediction]:
    """Parse each text against ``task`` and answer the valid ones in one batch."""
    results = [Prediction(text=t) for t in texts]
    valid: list[int] = []
    rows: list[list[int]] = []  # the model's input for each valid text
    for i, r in enumerate(results):
        try:
            r.expression = expression = parse_expression(r.text, task)
        except ExpressionError as exc:
            r.error = str(exc)
            r.error_position = exc.position if exc.text == r.text else None
            continue
        r.truth = expression.answer()
        if not model.fits(expression, task):
            r.error = "expression is too long for this model"
            continue
        valid.append(i)
        rows.append(model.prompt_ids(expression))
    if not valid:
        return results
    # The two kinds answer differently: a distribution over classes, or a generated token sequence.
    if isinstance(model, TransformerDecoder):
        _predict_decoder(model, task, results, valid, rows, top_k)
    else:
        _predict_encoder(model, results, valid, rows, top_k)
    return results


def attention_over(model: Model, ids: Sequence[int]) -> list[np.ndarray]:
    """The attention a decoder uses over one whole token sequence (``ids``: prompt + generated), per
    layer (H, T, T), from one forward in evaluation mode: the map of a sequence another decoding
    strategy (beam search, sampling) produced, not the greedy one ``predict`` drew."""
    tokens = np.asarray([list(ids)], dtype=np.int64)
    with model.eval_mode():
        model.forward(tokens)
        maps = model.attention_maps()
    return [m[0].astype(np.float64) for m in maps]


def _pad(rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(r) for r in rows])
    tokens = np.zeros((len(rows), int(lengths.max())), dtype=np.int64)
    for i, r in enumerate(rows):
        tokens[i, : len(r)] = r
    return tokens, lengths


def _predict_encoder(model: Model, results: list[Prediction], valid: list[int], rows: list[list[int]],
                     top_k: int) -> None:
    tokens, lengths = _pad(rows)
    mask = np.arange(tokens.shape[1])[None, :] < lengths[:, None]
    with model.eval_mode():
        probs = softmax(model.forward(tokens, mask).astype(np.float64))
        maps = model.attention_maps()
    for j, i in enumerate(valid):
        r = results[i]
        order = np.argsort(-probs[j])[:top_k]
        r.answer = int(order[0])
        r.top = [(int(a), float(probs[j, a])) for a in order]
        r.tokens = VOCAB.decode(rows[j])
        n = int(lengths[j])
        r.attention = [m[j, :, :n, :n].astype(np.float64) for m in maps]


def _predict_decoder(model: TransformerDecoder, task: TaskConfig, results: list[Prediction], valid: list[int],
                     rows: list[list[int]], top_k: int) -> None:
    prompts, lengths = _pad(rows)
    gen = model.generate(prompts, lengths, task.max_answer_tokens + 1, VOCAB.eos_id, VOCAB.pad_id)
    generated = [[int(t) for t in gen.tokens[j, : gen.lengths[j]]] for j in range(len(rows))]
    # Attention over the whole sequence the model produced (prompt + answer), from one more forward.
    full = [[int(t) for t in prompts[j, : lengths[j]]] + generated[j] for j in range(len(rows))]
    tokens, full_len = _pad(full)
    with model.eval_mode():
        model.forward(tokens)
        maps = model.attention_maps()
    for j, i in enumerate(valid):
        r = results[i]
        r.answer = decode_answer(generated[j], r.expression is not None and r.expression.list_valued)
        r.tokens = VOCAB.decode(full[j])
        n = int(full_len[j])
        r.attention = [m[j, :, :n, :n].astype(np.float64) for m in maps]
        p = gen.probs[j].astype(np.float64)
        r.steps = [[(VOCAB.tokens[int(t)], float(p[s, t])) for t in np.argsort(-p[s])[:top_k]]
                   for s in range(len(generated[j]))]
        if r.answer is not None:  # probability of the generated sequence: Π P(token | prefix)
            r.top = [(r.answer, float(np.prod([p[s, t] for s, t in enumerate(generated[j])])))]
