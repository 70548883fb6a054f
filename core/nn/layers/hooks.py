"""Hook points: where the Lab looks into a forward pass and intervenes in it, without touching a weight.

Each transformer block has six named points (``HOOK_POINTS``), each an activation of shape (N, W) whose
rows are some of the batch's B·T positions (all of them, the real tokens, or only the queried ones: see
``Rows``), ``Where`` saying which sequence and position each row is:

    resid_pre    (N, d)     the residual stream entering the block
    heads        (N, d)     the attention heads' outputs, concatenated (head h: columns h·dₕ … (h+1)·dₕ − 1),
                            before the output projection W_o: what "switching a head off" removes
    attn_out     (N, d)     the attention sublayer's output (after W_o and its bias)
    neurons      (N, d_ff)  the feed-forward hidden layer, after the non-linearity
    ffn_out      (N, d)     the feed-forward sublayer's output
    resid_post   (N, d)     the residual stream leaving the block

A hook maps the activation to what the rest of the forward pass sees, and carries the gradient back:

    Recorder   a' = a                       keeps a copy (reference means, patching sources, attributions)
    Knockout   a' = a ⊙ k + f ⊙ (1 − k)     k ∈ {0, 1}: which entries are kept; f: what replaces the others
               da = da' ⊙ k                 (f is a constant)

f = 0 is zero ablation, f = the mean over a reference set is mean ablation, f = another input's activation is
activation patching. k and f are (B or 1, T or 1, W): the same for every sequence and position, or one per
sequence (one batched forward runs many interventions: patching every head is one sequence per head) and
per position. A block with no hooks runs exactly the code it runs without this module, so removing every
hook restores the model's outputs bit for bit (tests/test_lab_hooks.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

HOOK_POINTS: tuple[str, ...] = ("resid_pre", "heads", "attn_out", "neurons", "ffn_out", "resid_post")


@dataclass(frozen=True)
class Where:
    """The sequence ``seq`` (N,) and position ``pos`` (N,) of each row of an activation."""

    seq: np.ndarray
    pos: np.ndarray

    @classmethod
    def of(cls, batch: int, time: int, flat: np.ndarray | None) -> Where:
        """Rows at flat indices b·T + t (None: all B·T in order)."""
        idx = np.arange(batch * time) if flat is None else flat
        seq, pos = np.divmod(idx, time)
        return cls(seq, pos)


class Hook(Protocol):
    def forward(self, a: np.ndarray, where: Where) -> np.ndarray: ...

    def backward(self, d: np.ndarray) -> np.ndarray: ...


def _rows(table: np.ndarray, where: Where) -> np.ndarray:
    """A (B or 1, T or 1, W) table at each row's sequence and position: (N, W), or (W,) when it is the
    same everywhere (then it broadcasts)."""
    seq = where.seq if table.shape[0] > 1 else 0
    pos = where.pos if table.shape[1] > 1 else 0
    return table[seq, pos]


@dataclass
class Knockout:
    """Replace the entries where ``keep`` is 0 by ``fill`` (None: by zero); see the module docstring."""

    keep: np.ndarray  # (B|1, T|1, W) of 0.0 / 1.0
    fill: np.ndarray | None = None  # (B|1, T|1, W); None: zeros
    _keep_rows: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        for name, table in (("keep", self.keep), ("fill", self.fill)):
            if table is not None and table.ndim != 3:
                raise ValueError(f"a knockout's {name} must be (B or 1, T or 1, W), got shape {table.shape}")

    def forward(self, a: np.ndarray, where: Where) -> np.ndarray:
        keep = _rows(self.keep, where).astype(a.dtype, copy=False)
        self._keep_rows = keep
        out = a * keep
        if self.fill is not None:
            out += _rows(self.fill, where).astype(a.dtype, copy=False) * (1 - keep)
        return out

    def backward(self, d: np.ndarray) -> np.ndarray:
        assert self._keep_rows is not None, "backward called before forward"
        return d * self._keep_rows


@dataclass
class Recorder:
    """Keep what passes (a copy) and where it was; change nothing."""

    value: np.ndarray | None = None
    where: Where | None = None

    def forward(self, a: np.ndarray, where: Where) -> np.ndarray:
        self.value, self.where = a.copy(), where
        return a

    def backward(self, d: np.ndarray) -> np.ndarray:
        return d

    def grid(self, batch: int, time: int) -> np.ndarray:
        """The recorded rows in a (B, T, W) grid (zero at positions the forward did not compute)."""
        assert self.value is not None and self.where is not None, "nothing recorded yet"
        out = np.zeros((batch, time, self.value.shape[1]), dtype=self.value.dtype)
        out[self.where.seq, self.where.pos] = self.value
        return out


@dataclass
class Chain:
    """Several hooks at one point, applied in order (a recorder after an ablation sees the ablated value)."""

    hooks: tuple[Hook, ...]

    def forward(self, a: np.ndarray, where: Where) -> np.ndarray:
        for hook in self.hooks:
            a = hook.forward(a, where)
        return a

    def backward(self, d: np.ndarray) -> np.ndarray:
        for hook in reversed(self.hooks):
            d = hook.backward(d)
        return d
