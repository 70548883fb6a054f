"""The token vocabulary shared by the data layer and both models.

Ids are fixed (PAD=0, EOS=1, "="=2, digits at 3..12, then operation names and punctuation) because
they are baked into every trained embedding table: a checkpoint stores ``to_dict()`` so that loading it
can verify that the ids still mean the same tokens. Tokens added later (``Sum``) go at the end, so an
older model's vocabulary is a prefix of this one (``extends``): its ids mean the same tokens, and it
simply has no embedding for the new ones (a task that uses them needs a model built with them).
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from core.errors import DatasetError

PAD_TOKEN = "[PAD]"
EOS_TOKEN = "[EOS]"
SEP_TOKEN = "="
SPECIAL_TOKENS: tuple[str, ...] = (PAD_TOKEN, EOS_TOKEN, SEP_TOKEN)
DIGIT_TOKENS: tuple[str, ...] = tuple(str(d) for d in range(10))
OPERATION_TOKENS: tuple[str, ...] = ("First", "Second", "Last", "Max", "Min")
PUNCTUATION_TOKENS: tuple[str, ...] = ("(", ")", ",")
#: tokens added after the first models shipped: appended, so older vocabularies stay prefixes
LATER_TOKENS: tuple[str, ...] = ("Sum", "Sort")
DEFAULT_TOKENS: tuple[str, ...] = (SPECIAL_TOKENS + DIGIT_TOKENS + OPERATION_TOKENS + PUNCTUATION_TOKENS
                                   + LATER_TOKENS)

_FIRST_DIGIT_ID = len(SPECIAL_TOKENS)


class Vocabulary:
    """A bijection between token strings and integer ids.

    Any token list is accepted as long as the ids the code relies on hold (specials at 0..2, digits at
    3..12), so a vocabulary read from an old checkpoint can be built and then compared to ``VOCAB``.
    """

    __slots__ = ("_index", "_tokens")

    def __init__(self, tokens: Sequence[str] | None = None) -> None:
        toks = DEFAULT_TOKENS if tokens is None else _validated(tokens)
        self._tokens: tuple[str, ...] = toks
        self._index: dict[str, int] = {t: i for i, t in enumerate(toks)}

    @property
    def tokens(self) -> tuple[str, ...]:
        """All tokens, in id order."""
        return self._tokens

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def eos_id(self) -> int:
        return 1

    @property
    def sep_id(self) -> int:
        return 2

    def __len__(self) -> int:
        return len(self._tokens)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocabulary):
            return NotImplemented
        return self._tokens == other._tokens

    def __hash__(self) -> int:
        return hash(self._tokens)

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} tokens)"

    def extends(self, other: Vocabulary) -> bool:
        """Whether ``other``'s tokens are this vocabulary's first ones: every id of ``other`` means the
        same token here (an older checkpoint's vocabulary against this program's)."""
        return self._tokens[: len(other._tokens)] == other._tokens

    def prefix(self, size: int) -> Vocabulary:
        """The vocabulary of this one's first ``size`` tokens: what a model of ``vocab_size`` = size knows."""
        return self if size == len(self._tokens) else Vocabulary(self._tokens[:size])

    def id_of(self, token: str) -> int:
        """The id of ``token``; a DatasetError (not a bare KeyError) names the unknown token."""
        try:
            return self._index[token]
        except (KeyError, TypeError):
            raise DatasetError(f"unknown token {token!r}: the vocabulary has {', '.join(self._tokens)}") from None

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Token strings → ids."""
        index = self._index
        try:
            return [index[t] for t in tokens]
        except (KeyError, TypeError):
            bad = next(t for t in tokens if not isinstance(t, str) or t not in index)
            raise DatasetError(f"unknown token {bad!r}: the vocabulary has {', '.join(self._tokens)}") from None

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Ids (Python or NumPy integers) → token strings."""
        out: list[str] = []
        n = len(self._tokens)
        for raw in ids:
            try:
                i = operator.index(raw)
            except TypeError:
                raise DatasetError(f"token id must be an integer, got {raw!r}") from None
            if not 0 <= i < n:
                raise DatasetError(f"token id {i} is outside the vocabulary (0..{n - 1})")
            out.append(self._tokens[i])
        return out

    def digit_id(self, d: int) -> int:
        """The id of the single digit ``d`` (0..9)."""
        if isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= 9:
            raise DatasetError(f"digit_id needs a single digit 0..9, got {d!r}")
        return _FIRST_DIGIT_ID + d

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, stored in checkpoints."""
        return {"tokens": list(self._tokens)}

    @classmethod
    def from_dict(cls, data: object) -> Vocabulary:
        """Rebuild from ``to_dict()`` output, refusing anything malformed with a DatasetError."""
        if not isinstance(data, Mapping):
            raise DatasetError(f"a vocabulary must be a JSON object, got {type(data).__name__}")
        keys = set(data)
        if keys != {"tokens"}:
            extra = sorted(map(str, keys - {"tokens"}))
            problem = f"unknown keys {', '.join(extra)}" if extra else "missing key 'tokens'"
            raise DatasetError(f"bad vocabulary: {problem}")
        tokens = data["tokens"]
        if not isinstance(tokens, list | tuple):
            raise DatasetError(f"bad vocabulary: 'tokens' must be a list, got {type(tokens).__name__}")
        return cls(tokens)


def _validated(tokens: Sequence[str]) -> tuple[str, ...]:
    """Check the invariants the rest of the code assumes about ids."""
    if isinstance(tokens, str):
        raise DatasetError("a vocabulary needs a list of tokens, not a single string")
    toks = tuple(tokens)
    for t in toks:
        if not isinstance(t, str) or not t:
            raise DatasetError(f"vocabulary tokens must be non-empty strings, got {t!r}")
    if len(set(toks)) != len(toks):
        dup = next(t for t in toks if toks.count(t) > 1)
        raise DatasetError(f"vocabulary token {dup!r} appears more than once")
    fixed = SPECIAL_TOKENS + DIGIT_TOKENS
    if toks[: len(fixed)] != fixed:
        raise DatasetError(
            f"a vocabulary must start with {', '.join(fixed)} (ids 0..{len(fixed) - 1}), "
            f"got {', '.join(toks[: len(fixed)])}"
        )
    return toks


VOCAB = Vocabulary()
