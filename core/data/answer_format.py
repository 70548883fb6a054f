"""How an answer is written as tokens, and read back: its digits followed by [EOS]."""

from __future__ import annotations

import numpy as np

from core.data.vocab import VOCAB, Vocabulary


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
