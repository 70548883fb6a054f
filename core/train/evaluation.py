"""Evaluate a model on an encoded split: loss, accuracy, accuracy by operation and argument count,
and each example's predicted answer (for confusion matrices and lists of mistakes).

The decoder's predictions come from greedy generation (what a user would get), decoded back to a
number; an unparsable generation (no digits, or digits without [EOS]) counts as wrong, predicted −1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.data.batching import EncodedSplit, make_batch
from core.data.vocab import VOCAB, Vocabulary
from core.nn.models.decoder import TransformerDecoder
from core.nn.models.factory import Model
from core.train.objective import forward_loss


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


def decode_answers(tokens: np.ndarray, vocab: Vocabulary = VOCAB) -> np.ndarray:
    """Generated token rows (B, L) → the numbers they spell before [EOS]; −1 where they spell none."""
    digit0 = vocab.digit_id(0)
    out = np.full(tokens.shape[0], -1, dtype=np.int64)
    for i, row in enumerate(tokens.tolist()):
        value, n_digits = 0, 0
        for tok in row:
            if tok == vocab.eos_id:
                if n_digits:
                    out[i] = value
                break
            d = tok - digit0
            if not 0 <= d <= 9:
                break
            value, n_digits = value * 10 + d, n_digits + 1
    return out


def evaluate(model: Model, split: EncodedSplit, batch_size: int = 256, vocab: Vocabulary = VOCAB) -> EvalResult:
    n = len(split)
    preds = np.empty(n, dtype=np.int64)
    loss_sum = 0.0
    was_training = model.training
    model.eval()
    try:
        for start in range(0, n, batch_size):
            idx = np.arange(start, min(n, start + batch_size))
            batch = make_batch(split, idx)
            result = forward_loss(model, batch)
            loss_sum += result.loss * len(idx)
            if isinstance(model, TransformerDecoder):
                max_new = int((split.lengths - split.prompt_lengths).max())
                prompt_len = batch.prompt_lengths
                width = int(prompt_len.max())
                prompts = np.where(np.arange(width)[None, :] < prompt_len[:, None],
                                   batch.tokens[:, :width], vocab.pad_id)
                gen = model.generate(prompts, prompt_len, max_new, vocab.eos_id, vocab.pad_id)
                preds[idx] = decode_answers(gen.tokens, vocab)
            else:
                preds[idx] = result.logits.argmax(axis=-1)
    finally:
        model.train(was_training)
    correct = preds == split.answers
    by_op = {int(o): float(correct[split.op_ids == o].mean()) for o in np.unique(split.op_ids)}
    by_nargs = {int(k): float(correct[split.n_args == k].mean()) for k in np.unique(split.n_args)}
    return EvalResult(loss_sum / n, float(correct.mean()), n, preds, split.answers.copy(),
                      split.op_ids.copy(), split.n_args.copy(), by_op, by_nargs)
