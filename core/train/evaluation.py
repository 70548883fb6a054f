"""Evaluate a model on an encoded split: loss, accuracy, accuracy by operation and argument count,
and each example's predicted answer (for confusion matrices and lists of mistakes).

Each model kind gives its answers its own way (``batch_answers``): the encoder's most likely class; the
decoder's greedy generation (what a user would get), decoded back to a number — an unparsable generation
(no digits, or digits without [EOS]) counts as wrong, predicted −1. A list answer (Sort) is right when
the generated tokens are exactly the answer's and its [EOS]; ``predicted_lists`` reads them back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.data.answer_format import decode_answers, decode_list
from core.data.batching import PAD_ID, EncodedSplit, make_batch
from core.data.operations import Answer
from core.data.vocab import VOCAB, Vocabulary
from core.nn.models.decoder import TransformerDecoder
from core.nn.models.factory import Model
from core.train.objective import forward_loss

__all__ = ["EvalResult", "decode_answers", "evaluate"]  # decode_answers: re-exported from core.data.answer_format


@dataclass
class EvalResult:
    loss: float
    accuracy: float
    n: int
    predictions: np.ndarray  # (N,) predicted number (−1 = no valid number, and every list-answer row)
    answers: np.ndarray  # (N,) the true number (−1 where the answer is a list)
    op_ids: np.ndarray  # (N,)
    n_args: np.ndarray  # (N,)
    accuracy_by_op: dict[int, float] = field(default_factory=dict)
    accuracy_by_nargs: dict[int, float] = field(default_factory=dict)
    correct_mask: np.ndarray | None = None  # (N,) which rows are right; None: predictions == answers
    #: list-answer rows (Sort) only: the generated tokens (N, max_new), to read a wrong list back
    generated: np.ndarray | None = None

    @property
    def correct(self) -> np.ndarray:
        return self.predictions == self.answers if self.correct_mask is None else self.correct_mask

    @property
    def list_rows(self) -> np.ndarray:
        """Which rows have a list answer (Sort)."""
        return self.answers < 0

    def predicted_answer(self, i: int, vocab: Vocabulary = VOCAB) -> Answer | None:
        """What the model answered at row ``i``: its number or list, None if it wrote neither."""
        if self.answers[i] >= 0 or self.generated is None:
            return int(self.predictions[i]) if self.predictions[i] >= 0 else None
        return decode_list(self.generated[i].tolist(), vocab)


def evaluate(model: Model, split: EncodedSplit, batch_size: int = 256, vocab: Vocabulary = VOCAB) -> EvalResult:
    n = len(split)
    preds = np.empty(n, dtype=np.int64)
    loss_sum = 0.0
    max_new = int((split.lengths - split.prompt_lengths).max())  # the longest answer and its [EOS] (decoder)
    lists = bool((split.answers < 0).any())  # list answers (Sort) are compared token by token
    generated = np.empty((n, max_new), dtype=np.int64) if lists else None
    with model.eval_mode():
        for start in range(0, n, batch_size):
            idx = np.arange(start, min(n, start + batch_size))
            batch = make_batch(split, idx)
            result = forward_loss(model, batch)
            loss_sum += result.loss * len(idx)
            if generated is None:
                preds[idx] = model.batch_answers(batch, result.logits, max_new, vocab)
            else:
                assert isinstance(model, TransformerDecoder), "only a decoder's splits hold list answers"
                generated[idx] = model.batch_generations(batch, result.logits, max_new, vocab)
                preds[idx] = decode_answers(generated[idx], vocab)
    correct = preds == split.answers
    if generated is not None:
        correct = np.where(split.answers < 0, np.all(generated == _answer_rows(split, max_new), axis=1), correct)
        preds[split.answers < 0] = -1
    by_op = {int(o): float(correct[split.op_ids == o].mean()) for o in np.unique(split.op_ids)}
    by_nargs = {int(k): float(correct[split.n_args == k].mean()) for k in np.unique(split.n_args)}
    return EvalResult(loss_sum / n, float(correct.mean()), n, preds, split.answers.copy(),
                      split.op_ids.copy(), split.n_args.copy(), by_op, by_nargs,
                      correct_mask=correct if generated is not None else None, generated=generated)


def _answer_rows(split: EncodedSplit, width: int) -> np.ndarray:
    """Each row's answer tokens and [EOS] (N, width), PAD after: what a right generation writes."""
    steps = np.arange(width)[None, :]
    cols = np.minimum(split.prompt_lengths[:, None] + steps, split.tokens.shape[1] - 1)
    tail = np.take_along_axis(split.tokens, cols, axis=1)
    return np.where(split.prompt_lengths[:, None] + steps < split.lengths[:, None], tail, PAD_ID)
