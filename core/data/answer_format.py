"""How an answer is written as tokens, and read back.

A number is its digits followed by [EOS]: 42 → ``4 2 [EOS]``. A list (Sort's answer) is its numbers
with a comma between each two, then [EOS]: (2, 4, 42) → ``2 , 4 , 4 2 [EOS]`` — the same comma the
expressions use, so no new token is needed and a number's digits are never ambiguous.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.data.operations import Answer
from core.data.vocab import VOCAB, Vocabulary


def answer_tokens(answer: Answer) -> list[str]:
    """The tokens an answer is written with, without [EOS]: ``7`` → 7; ``(2, 4, 8)`` → 2 , 4 , 8."""
    if isinstance(answer, int):
        return list(str(answer))
    out: list[str] = []
    for i, value in enumerate(answer):
        if i:
            out.append(",")
        out.extend(str(value))
    return out


def format_answer(answer: Answer | None) -> str:
    """How people read an answer: ``7``, ``[2, 4, 8]``; ``–`` for no valid answer."""
    if answer is None or (isinstance(answer, int) and answer < 0):
        return "–"
    if isinstance(answer, int):
        return str(answer)
    return "[" + ", ".join(map(str, answer)) + "]"


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


def decode_list(ids: Sequence[int], vocab: Vocabulary = VOCAB) -> tuple[int, ...] | None:
    """Generated token ids → the list of numbers they spell before [EOS] (``2 , 4 , 8 [EOS]`` →
    (2, 4, 8)); None unless they are numbers separated by single commas and ended by [EOS]."""
    digit0, comma = vocab.digit_id(0), vocab.id_of(",")
    values: list[int] = []
    value, n_digits = 0, 0
    for tok in ids:
        if tok == vocab.eos_id or tok == comma:
            if not n_digits:
                return None
            values.append(value)
            value, n_digits = 0, 0
            if tok == vocab.eos_id:
                return tuple(values)
            continue
        d = tok - digit0
        if not 0 <= d <= 9:
            return None
        value, n_digits = value * 10 + d, n_digits + 1
    return None


def decode_answer(ids: Sequence[int], list_valued: bool, vocab: Vocabulary = VOCAB) -> Answer | None:
    """Generated ids → the answer they spell (a number, or a list when ``list_valued``), None if none."""
    if list_valued:
        return decode_list(ids, vocab)
    value = int(decode_answers(np.asarray([list(ids) or [vocab.pad_id]], dtype=np.int64), vocab)[0])
    return value if value >= 0 else None
