"""Turning examples into the padded token-id arrays the models consume.

A split is tokenised once into one padded matrix (``EncodedSplit``); a batch is then a NumPy gather
plus a trim to the longest row, with no Python loop over rows, so batching never dominates a step.

Encoder rows are the expression's tokens and the target is the answer as a class id. Decoder rows are
``expression = answer-tokens [EOS]`` (a number's digits, or a list's numbers and commas: Sort); the
model input is the row without its last token and the target the row without its first (next-token
prediction), and only the answer's tokens and [EOS] are scored.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np

from core.data.answer_format import answer_tokens
from core.data.dataset import Example
from core.data.task import TaskConfig
from core.data.vocab import VOCAB, Vocabulary
from core.errors import ConfigError, DatasetError

MODES: tuple[str, ...] = ("encoder", "decoder")
PAD_ID = VOCAB.pad_id  # 0 in every Vocabulary (enforced there), so arrays can be padded without one


@dataclass(repr=False)
class EncodedSplit:
    """A whole split as arrays: ``tokens`` (N, T_max) right-padded with PAD, and per-row metadata.

    ``prompt_lengths``: encoder — the full length; decoder — expression tokens + 1 (the "=").
    """

    mode: str
    tokens: np.ndarray  # (N, T_max) int64
    lengths: np.ndarray  # (N,) int64, real tokens per row
    prompt_lengths: np.ndarray  # (N,) int64
    answers: np.ndarray  # (N,) int64, the answer; −1 where it is a list (Sort: see the row's tokens)
    op_ids: np.ndarray  # (N,) int64, index into task.operations
    n_args: np.ndarray  # (N,) int64, top-level argument count
    texts: list[str]  # canonical expression text per row

    def __len__(self) -> int:
        return int(self.lengths.shape[0])

    def __repr__(self) -> str:  # the default would print every row
        return f"EncodedSplit(mode={self.mode!r}, n={len(self)}, max_len={self.tokens.shape[1]})"


def encode_examples(
    examples: Sequence[Example], task: TaskConfig, mode: str, vocab: Vocabulary = VOCAB
) -> EncodedSplit:
    """Tokenise ``examples`` for an ``"encoder"`` or ``"decoder"`` model of ``task``.

    Examples are trusted to be correct (``generate_dataset`` and ``load_dataset`` verify every answer);
    only what would break the arrays — an operation outside the task, an answer outside its classes —
    is checked. Each distinct example object is tokenised once and the matrix then gathered, which
    keeps a million-row split (mostly repeats on small tasks) fast.
    """
    if mode not in MODES:
        raise DatasetError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if len(examples) == 0:
        raise DatasetError("cannot encode an empty list of examples")
    op_index = {op: i for i, op in enumerate(task.operations)}
    # "= digits [EOS]" per possible number answer, built once.
    tails = [[vocab.sep_id, *vocab.encode(list(str(v))), vocab.eos_id] for v in range(task.num_classes)]
    decoder = mode == "decoder"
    if task.list_valued and not decoder:
        raise DatasetError(f"{task.describe()}: a list answer (Sort) needs a decoder, which writes it token by "
                           "token; an encoder picks one number")
    row_of: dict[int, int] = {}
    rows: list[list[int]] = []
    meta: list[tuple[int, int, int, int]] = []  # prompt length, answer, op id, n_args
    texts_u: list[str] = []
    inverse: list[int] = []
    for ex in examples:
        u = row_of.get(id(ex))
        if u is None:
            u = row_of[id(ex)] = len(rows)
            expr, answer = ex.expression, ex.answer
            op_id = op_index.get(expr.op)
            if op_id is None:
                raise DatasetError(
                    f"{ex.text}: {expr.op} is not one of the task's operations ({', '.join(task.operations)})"
                )
            if isinstance(answer, int):
                if not 0 <= answer <= task.max_value:
                    raise DatasetError(f"{ex.text}: answer {answer} is outside this task's 0..{task.max_value}")
                tail, value = tails[answer], answer
            else:
                tail, value = [vocab.sep_id, *vocab.encode(answer_tokens(answer)), vocab.eos_id], -1
            ids = vocab.encode(expr.tokens())
            prompt = len(ids)
            if decoder:
                ids += tail
                prompt += 1
            rows.append(ids)
            meta.append((prompt, value, op_id, len(expr.args)))
            texts_u.append(str(expr))
        inverse.append(u)

    lengths_u = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    total = int(lengths_u.sum())
    matrix = np.full((len(rows), int(lengths_u.max())), PAD_ID, dtype=np.int64)
    starts = np.cumsum(lengths_u) - lengths_u
    row_idx = np.repeat(np.arange(len(rows)), lengths_u)
    col_idx = np.arange(total) - np.repeat(starts, lengths_u)
    matrix[row_idx, col_idx] = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=total)

    inv = np.asarray(inverse, dtype=np.int64)
    meta_arr = np.asarray(meta, dtype=np.int64)[inv]
    lengths = lengths_u[inv]
    return EncodedSplit(
        mode=mode,
        tokens=matrix[inv],
        lengths=lengths,
        prompt_lengths=lengths.copy() if mode == "encoder" else meta_arr[:, 0].copy(),
        answers=meta_arr[:, 1].copy(),
        op_ids=meta_arr[:, 2].copy(),
        n_args=meta_arr[:, 3].copy(),
        texts=[texts_u[u] for u in inverse],
    )


@dataclass
class Batch:
    """What one training/eval step sees.

    ``tokens`` (B, T) model input; ``pad_mask`` (B, T) True at real tokens. Encoder: ``targets`` (B,)
    answer classes, ``loss_mask`` None. Decoder: ``targets`` (B, T) next-token ids (PAD past the end)
    and ``loss_mask`` (B, T) 1.0 where the target is an answer digit or [EOS]; the first answer digit
    is predicted at input position ``prompt_lengths - 1`` (the "=").
    """

    tokens: np.ndarray
    pad_mask: np.ndarray
    targets: np.ndarray
    loss_mask: np.ndarray | None
    answers: np.ndarray
    op_ids: np.ndarray
    n_args: np.ndarray
    prompt_lengths: np.ndarray

    @property
    def n_tokens(self) -> int:
        """Real (non-pad) input tokens in the batch."""
        return int(self.pad_mask.sum())


def _window(rows: np.ndarray, start: int, width: int) -> np.ndarray:
    """Columns ``start .. start+width`` of ``rows``, padded with PAD where ``rows`` is narrower."""
    out = np.full((rows.shape[0], width), PAD_ID, dtype=np.int64)
    avail = max(0, min(width, rows.shape[1] - start))
    out[:, :avail] = rows[:, start : start + avail]
    return out


def make_batch(split: EncodedSplit, indices: np.ndarray, extra_padding: int = 0) -> Batch:
    """Gather rows ``indices`` of ``split`` into a Batch trimmed to its longest row, plus
    ``extra_padding`` all-PAD columns (padding must not change a model's outputs; tests use this)."""
    idx = np.asarray(indices)
    if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise DatasetError(f"indices must be a non-empty 1-D integer array, got shape {idx.shape}")
    n = len(split)
    if idx.min() < 0 or idx.max() >= n:
        raise DatasetError(f"indices must be in 0..{n - 1}, got {int(idx.min())}..{int(idx.max())}")
    if isinstance(extra_padding, bool) or not isinstance(extra_padding, int | np.integer) or extra_padding < 0:
        raise DatasetError(f"extra_padding must be a non-negative integer, got {extra_padding!r}")
    rows = split.tokens[idx]
    lengths = split.lengths[idx]
    prompt_lengths = split.prompt_lengths[idx]
    decoder = split.mode == "decoder"
    in_len = lengths - 1 if decoder else lengths
    width = int(in_len.max()) + int(extra_padding)
    cols = np.arange(width)[None, :]
    pad_mask = cols < in_len[:, None]
    tokens = np.where(pad_mask, _window(rows, 0, width), PAD_ID)
    if decoder:
        targets = np.where(pad_mask, _window(rows, 1, width), PAD_ID)
        loss_mask: np.ndarray | None = (pad_mask & (cols >= prompt_lengths[:, None] - 1)).astype(np.float64)
    else:
        targets = split.answers[idx]
        loss_mask = None
    return Batch(
        tokens=tokens,
        pad_mask=pad_mask,
        targets=targets,
        loss_mask=loss_mask,
        answers=split.answers[idx],
        op_ids=split.op_ids[idx],
        n_args=split.n_args[idx],
        prompt_lengths=prompt_lengths,
    )


def iterate_batches(
    split: EncodedSplit,
    batch_size: int,
    rng: np.random.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[Batch]:
    """Batches covering ``split`` once: in a random permutation drawn from ``rng`` if given, else in
    order. ``drop_last`` skips a final short batch."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    n = len(split)
    order = rng.permutation(n) if rng is not None else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    return (make_batch(split, order[s : s + batch_size]) for s in range(0, stop, batch_size))
