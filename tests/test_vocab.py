"""The vocabulary's ids are part of every checkpoint, so they are pinned here."""

from __future__ import annotations

import numpy as np
import pytest

from core.data.expression import Expression
from core.data.vocab import DEFAULT_TOKENS, VOCAB, Vocabulary
from core.errors import DatasetError


def test_fixed_ids() -> None:
    assert (VOCAB.pad_id, VOCAB.eos_id, VOCAB.sep_id) == (0, 1, 2)
    assert VOCAB.tokens[:3] == ("[PAD]", "[EOS]", "=")
    assert [VOCAB.id_of(str(d)) for d in range(10)] == list(range(3, 13))
    assert VOCAB.tokens[13:] == ("First", "Second", "Last", "Max", "Min", "(", ")", ",", "Sum", "Sort")
    assert len(VOCAB) == 23
    assert VOCAB.tokens == DEFAULT_TOKENS


def test_digit_id() -> None:
    assert [VOCAB.digit_id(d) for d in range(10)] == list(range(3, 13))
    for bad in (-1, 10, True, 1.0):
        with pytest.raises(DatasetError, match="digit"):
            VOCAB.digit_id(bad)  # type: ignore[arg-type]


def test_encode_decode_round_trip() -> None:
    tokens = Expression("Max", (5, 42, Expression("Min", (1, 2)))).tokens()
    ids = VOCAB.encode(tokens)
    assert VOCAB.decode(ids) == tokens
    assert VOCAB.decode(np.array(ids)) == tokens  # NumPy integers are fine


def test_unknown_token_is_a_dataset_error() -> None:
    with pytest.raises(DatasetError, match="'Mux'"):
        VOCAB.id_of("Mux")
    with pytest.raises(DatasetError, match="'x'"):
        VOCAB.encode(["Max", "(", "x"])
    with pytest.raises(DatasetError, match="outside"):
        VOCAB.decode([0, 23])
    with pytest.raises(DatasetError, match="integer"):
        VOCAB.decode([1.5])  # type: ignore[list-item]


def test_dict_round_trip_and_equality() -> None:
    d = VOCAB.to_dict()
    assert d == {"tokens": list(DEFAULT_TOKENS)}
    again = Vocabulary.from_dict(d)
    assert again == VOCAB and hash(again) == hash(VOCAB) and again is not VOCAB
    other = Vocabulary([*DEFAULT_TOKENS, "Reverse"])
    assert other != VOCAB and len(other) == 24


def test_an_older_vocabulary_is_a_prefix_that_means_the_same_ids() -> None:
    older = VOCAB.prefix(21)  # what models saved before Sum existed have
    assert len(older) == 21 and VOCAB.extends(older) and not older.extends(VOCAB)
    assert VOCAB.prefix(len(VOCAB)) is VOCAB
    assert not VOCAB.extends(Vocabulary([*DEFAULT_TOKENS[:13], "Max", "First"]))


@pytest.mark.parametrize(
    "data, match",
    [
        ([], "JSON object"),
        ({}, "missing key 'tokens'"),
        ({"tokens": list(DEFAULT_TOKENS), "x": 1}, "unknown keys x"),
        ({"tokens": "abc"}, "must be a list"),
        ({"tokens": [*DEFAULT_TOKENS, "Max"]}, "more than once"),
        ({"tokens": [*DEFAULT_TOKENS, ""]}, "non-empty strings"),
        ({"tokens": [*DEFAULT_TOKENS, 3]}, "non-empty strings"),
        ({"tokens": ["[EOS]", "[PAD]", *DEFAULT_TOKENS[2:]]}, "must start with"),
    ],
)
def test_from_dict_refuses_malformed(data: object, match: str) -> None:
    with pytest.raises(DatasetError, match=match):
        Vocabulary.from_dict(data)  # type: ignore[arg-type]
