"""Encoding splits and building batches: shapes, padding, and the decoder's shift and loss mask."""

from __future__ import annotations

import numpy as np
import pytest

from core.data.batching import EncodedSplit, encode_examples, iterate_batches, make_batch
from core.data.dataset import DatasetConfig, Example, generate_dataset
from core.data.expression import Expression
from core.data.task import TaskConfig
from core.data.vocab import VOCAB
from core.errors import ConfigError, DatasetError

TASK99 = TaskConfig(max_value=99)


def ex(op: str, *args: int) -> Example:
    e = Expression(op, args)
    return Example(e, e.evaluate())


# Hand-checked ids: First 13, Max 16, "(" 18, ")" 19, "," 20, "=" 2, [EOS] 1, digit d → 3 + d.
MAX_539 = [16, 18, 8, 20, 6, 20, 12, 19]  # Max ( 5 , 3 , 9 )
FIRST_42_7_0 = [13, 18, 7, 5, 20, 10, 20, 3, 19]  # First ( 4 2 , 7 , 0 )


def test_hand_checked_ids() -> None:
    assert VOCAB.encode(Expression("Max", (5, 3, 9)).tokens()) == MAX_539
    assert VOCAB.encode(Expression("First", (42, 7, 0)).tokens()) == FIRST_42_7_0


def test_encoder_split_and_batch() -> None:
    examples = [ex("Max", 5, 3, 9), ex("First", 42, 7, 0)]
    split = encode_examples(examples, TASK99, "encoder")
    assert len(split) == 2 and split.mode == "encoder"
    assert split.tokens.dtype == np.int64 and split.tokens.shape == (2, 9)
    assert split.tokens[0].tolist() == [*MAX_539, 0]
    assert split.tokens[1].tolist() == FIRST_42_7_0
    assert split.lengths.tolist() == [8, 9] and split.prompt_lengths.tolist() == [8, 9]
    assert split.answers.tolist() == [9, 42]
    assert split.op_ids.tolist() == [3, 0] and split.n_args.tolist() == [3, 3]
    assert split.texts == ["Max(5, 3, 9)", "First(42, 7, 0)"]

    b = make_batch(split, np.array([1, 0]))
    assert b.tokens.shape == b.pad_mask.shape == (2, 9)
    assert b.tokens[1].tolist() == [*MAX_539, 0]
    assert b.pad_mask.sum(axis=1).tolist() == [9, 8] and b.n_tokens == 17
    assert b.targets.tolist() == [42, 9] and b.loss_mask is None
    assert b.answers.tolist() == [42, 9] and b.prompt_lengths.tolist() == [9, 8]

    only = make_batch(split, np.array([0]))  # trimmed to the longest row in the batch
    assert only.tokens.shape == (1, 8) and only.pad_mask.all()


def test_decoder_shift_and_loss_mask_by_hand() -> None:
    examples = [ex("First", 42, 7, 0), ex("Max", 5, 3, 9)]
    split = encode_examples(examples, TASK99, "decoder")
    assert split.tokens[0].tolist() == [*FIRST_42_7_0, 2, 7, 5, 1]  # ... = 4 2 [EOS]
    assert split.tokens[1].tolist() == [*MAX_539, 2, 12, 1, 0, 0]  # ... = 9 [EOS] pad pad
    assert split.lengths.tolist() == [13, 11] and split.prompt_lengths.tolist() == [10, 9]

    b = make_batch(split, np.array([0, 1]))
    assert b.tokens.tolist() == [
        [*FIRST_42_7_0, 2, 7, 5],
        [*MAX_539, 2, 12, 0, 0],
    ]
    assert b.targets.tolist() == [
        [18, 7, 5, 20, 10, 20, 3, 19, 2, 7, 5, 1],
        [18, 8, 20, 6, 20, 12, 19, 2, 12, 1, 0, 0],
    ]
    assert b.loss_mask is not None and b.loss_mask.dtype == np.float64
    assert b.loss_mask.tolist() == [
        [0] * 9 + [1, 1, 1],  # targets 4, 2, [EOS]
        [0] * 8 + [1, 1, 0, 0],  # targets 9, [EOS]
    ]
    assert b.pad_mask.tolist() == [[True] * 12, [True] * 10 + [False] * 2]
    # The first answer digit is predicted at input position prompt_length - 1, the "=".
    for row, p in enumerate(b.prompt_lengths.tolist()):
        assert b.tokens[row, p - 1] == VOCAB.sep_id
        assert b.loss_mask[row, p - 1] == 1.0 and b.loss_mask[row, : p - 1].sum() == 0


@pytest.mark.parametrize("mode", ["encoder", "decoder"])
def test_extra_padding_adds_only_pad(mode: str) -> None:
    examples = [ex("Max", 5, 3, 9), ex("Min", 1, 2, 3)]
    split = encode_examples(examples, TaskConfig(), mode)
    plain = make_batch(split, np.array([0, 1]))
    padded = make_batch(split, np.array([0, 1]), extra_padding=5)
    t = plain.tokens.shape[1]
    assert padded.tokens.shape == (2, t + 5)
    assert (padded.tokens[:, :t] == plain.tokens).all() and (padded.tokens[:, t:] == VOCAB.pad_id).all()
    assert (padded.pad_mask[:, :t] == plain.pad_mask).all() and not padded.pad_mask[:, t:].any()
    assert padded.n_tokens == plain.n_tokens
    if mode == "decoder":
        assert padded.loss_mask is not None and plain.loss_mask is not None
        assert (padded.targets[:, :t] == plain.targets).all() and (padded.targets[:, t:] == 0).all()
        assert (padded.loss_mask[:, :t] == plain.loss_mask).all() and not padded.loss_mask[:, t:].any()
    else:
        assert (padded.targets == plain.targets).all()


def test_variable_lengths_round_trip_through_the_vocab() -> None:
    task = TaskConfig(max_value=99, min_args=1, max_args=6, max_depth=2)
    ds = generate_dataset(DatasetConfig(task, n_train=300, n_val=0, n_test=0, seed=2))
    split = encode_examples(ds.train, task, "decoder")
    assert split.tokens.shape[1] == split.lengths.max() <= task.max_expression_tokens + 2 + task.max_answer_tokens
    b = make_batch(split, np.arange(len(split)))
    for row, example in enumerate(ds.train):
        n = int(b.pad_mask[row].sum())
        assert n == len(example.expression.tokens()) + 1 + len(str(example.answer))
        decoded = VOCAB.decode(b.tokens[row, :n])
        assert decoded == [*example.expression.tokens(), "=", *str(example.answer)]
        assert VOCAB.decode(b.targets[row, b.loss_mask[row] > 0]) == [*str(example.answer), "[EOS]"]  # type: ignore[index]
    assert (split.lengths - split.prompt_lengths).tolist() == [len(str(e.answer)) + 1 for e in ds.train]


def test_repeated_examples_share_rows() -> None:
    one = ex("Max", 5, 3, 9)
    split = encode_examples([one, ex("Min", 1, 2, 3), one], TaskConfig(), "encoder")
    assert (split.tokens[0] == split.tokens[2]).all() and split.texts[0] == split.texts[2]


def test_iterate_batches() -> None:
    examples = [ex("Max", i, 0, 0) for i in range(10)]
    split = encode_examples(examples, TaskConfig(), "encoder")
    ordered = list(iterate_batches(split, 4))
    assert [b.answers.tolist() for b in ordered] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [len(b.answers) for b in iterate_batches(split, 4, drop_last=True)] == [4, 4]
    shuffled = list(iterate_batches(split, 3, rng=np.random.default_rng(0)))
    seen = np.concatenate([b.answers for b in shuffled])
    assert sorted(seen.tolist()) == list(range(10)) and seen.tolist() != list(range(10))
    again = np.concatenate([b.answers for b in iterate_batches(split, 3, rng=np.random.default_rng(0))])
    assert (again == seen).all()
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ConfigError, match="batch_size"):
            iterate_batches(split, bad)  # type: ignore[arg-type]


def test_errors() -> None:
    task = TaskConfig(operations=("Max", "Min"))
    with pytest.raises(DatasetError, match="empty"):
        encode_examples([], task, "encoder")
    with pytest.raises(DatasetError, match="mode"):
        encode_examples([ex("Max", 1, 2, 3)], task, "seq2seq")
    with pytest.raises(DatasetError, match="First is not one of the task's operations"):
        encode_examples([ex("First", 1, 2, 3)], task, "encoder")
    with pytest.raises(DatasetError, match="outside"):
        encode_examples([ex("Max", 1, 2, 30)], task, "encoder")
    split = encode_examples([ex("Max", 1, 2, 3)], task, "encoder")
    assert isinstance(split, EncodedSplit) and "n=1" in repr(split)
    for bad_idx in (np.array([], dtype=np.int64), np.array([1]), np.array([-1]), np.array([0.0])):
        with pytest.raises(DatasetError, match="indices"):
            make_batch(split, bad_idx)
    with pytest.raises(DatasetError, match="extra_padding"):
        make_batch(split, np.array([0]), extra_padding=-1)
