"""Evaluate a model on an encoded split: loss, accuracy, accuracy by operation and argument count,
and each example's predicted answer (for confusion matrices and lists of mistakes).

Each model kind gives its answers its own way (``batch_answers``): the encoder's most likely class; the
decoder's greedy generation (what a user would get), decoded back to a number — an unparsable generation
(no digits, or digits without [EOS]) counts as wrong, predicted −1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.data.answer_format import decode_answers
from core.data.batching import EncodedSplit, make_batch
from core.data.vocab import VOCAB, Vocabulary
from core.nn.models.factory import Model
from core.train.objective import forward_loss

__all__ = ["EvalResult", "decode_answers", "evaluate"]  # decode_answers: re-exported from core.data.answer_format


@dataclass
class EvalResult:
    loss: float
    accuracy: float
    n: int
    predictions: np.ndarray  # (N,) predicted answer (−1 = no valid answer)
    answers: np.ndarray  # (N,)
    op_ids: np.ndarray  # (N,)
    n_args: np.ndarray  # (N,)
    accuracy_by_op: dict[int, float] = field(default_factory=dict)
    accuracy_by_nargs: dict[int, float] = field(default_factory=dict)

    @property
    def correct(self) -> np.ndarray:
        return self.predictions == self.answers


def evaluate(model: Model, split: EncodedSplit, batch_size: int = 256, vocab: Vocabulary = VOCAB) -> EvalResult:
    n = len(split)
    preds = np.empty(n, dtype=np.int64)
    loss_sum = 0.0
    max_new = int((split.lengths - split.prompt_lengths).max())  # the longest answer and its [EOS] (decoder)
    with model.eval_mode():
        for start in range(0, n, batch_size):
            idx = np.arange(start, min(n, start + batch_size))
            batch = make_batch(split, idx)
            result = forward_loss(model, batch)
            loss_sum += result.loss * len(idx)
            preds[idx] = model.batch_answers(batch, result.logits, max_new, vocab)
    correct = preds == split.answers
    by_op = {int(o): float(correct[split.op_ids == o].mean()) for o in np.unique(split.op_ids)}
    by_nargs = {int(k): float(correct[split.n_args == k].mean()) for k in np.unique(split.n_args)}
    return EvalResult(loss_sum / n, float(correct.mean()), n, preds, split.answers.copy(),
                      split.op_ids.copy(), split.n_args.copy(), by_op, by_nargs)
