"""Weight snapshots through a run, for time travel: bounded, log-spaced in steps, restored bit for bit.

A run's record keeps copies of the weights at steps spaced geometrically — 0, 1, 2, 4, 8, … and then a
factor ``SPACING`` apart — because early training changes fastest (the first hundred steps differ more
from each other than steps 10,000 and 10,100 do). The number kept is bounded by a byte budget: when a new
snapshot would exceed it, every other one of the older half is dropped, so the spacing stays roughly
geometric and the folder stays within ``budget_bytes`` however long the run is.

Each snapshot is one safetensors file (``step-00001234.safetensors``: data, never pickle) holding every
parameter by name, exactly as the model had it — float32 in, float32 out — so restoring one gives the
weights of that step bit for bit, and two can be diffed to see which parameters moved most.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from core.errors import LLMLearnError
from core.safe_files import MiB, UnsafeFileError, read_regular_file

SNAPSHOT_DIR = "snapshots"
SPACING = 1.5  # each snapshot at least this factor later than the last (after the first few)
DEFAULT_BUDGET_BYTES = 64 * MiB
_NAME = re.compile(r"step-(\d{8})\.safetensors")


class SnapshotError(LLMLearnError):
    """A snapshot that cannot be read or does not fit the model."""


def next_due(step: int) -> int:
    """The first step after ``step`` that gets a snapshot: 1, 2, 4, 8 early on, then ×SPACING."""
    if step < 8:
        return max(1, step * 2)
    return max(step + 1, math.ceil(step * SPACING))


def snapshot_path(folder: Path, step: int) -> Path:
    return folder / SNAPSHOT_DIR / f"step-{step:08d}.safetensors"


def snapshot_steps(folder: Path) -> list[int]:
    """The steps that have a snapshot in the run folder ``folder``, ascending."""
    d = folder / SNAPSHOT_DIR
    if not d.is_dir():
        return []
    return sorted(int(m.group(1)) for p in d.iterdir() if (m := _NAME.fullmatch(p.name)))


def write_snapshot(folder: Path, step: int, weights: Mapping[str, np.ndarray]) -> Path:
    """Save ``weights`` (name → array) as the snapshot of ``step``; written to a temporary name and renamed,
    so a crash never leaves half a snapshot under a real name."""
    path = snapshot_path(folder, step)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(st_save({k: np.ascontiguousarray(v) for k, v in weights.items()}))
    os.replace(tmp, path)
    return path


def read_snapshot(folder: Path, step: int, max_bytes: int = 1024 * MiB) -> dict[str, np.ndarray]:
    """The weights saved at ``step`` (name → array, dtype as saved)."""
    path = snapshot_path(folder, step)
    try:
        return dict(st_load(read_regular_file(path, max_bytes)))
    except (OSError, UnsafeFileError) as exc:
        raise SnapshotError(f"{path}: cannot read the snapshot ({exc})") from None
    except Exception as exc:  # a damaged file: any parse failure
        raise SnapshotError(f"{path}: not a readable snapshot ({exc})") from None


class SnapshotKeeper:
    """Takes the snapshots of one run into ``folder`` as it trains (called between steps)."""

    def __init__(self, folder: Path, budget_bytes: int = DEFAULT_BUDGET_BYTES, start_step: int = 0) -> None:
        self.folder = folder
        self.budget_bytes = budget_bytes
        self.due = start_step  # the first call takes one: the weights the run starts from
        self.kept: list[int] = []
        self.size = 0  # bytes of one snapshot

    def maybe_take(self, step: int, weights: Mapping[str, np.ndarray]) -> bool:
        """Snapshot ``weights`` if ``step`` is due; True if one was taken."""
        if step < self.due:
            return False
        write_snapshot(self.folder, step, weights)
        self.size = sum(v.nbytes for v in weights.values())
        self.kept.append(step)
        self.due = next_due(step)
        self._thin()
        return True

    def _thin(self) -> None:
        """Within the budget: drop every other snapshot of the older half (never the first or the last)."""
        limit = max(2, self.budget_bytes // max(1, self.size))
        while len(self.kept) > limit:
            old = self.kept[1: len(self.kept) // 2 + 1]
            dropped = set(old[::2]) or {self.kept[1]}
            for step in dropped:
                with contextlib.suppress(OSError):
                    snapshot_path(self.folder, step).unlink()
            self.kept = [s for s in self.kept if s not in dropped]


@dataclass(frozen=True)
class ParameterChange:
    """How far one parameter moved between two snapshots: ‖Δ‖, ‖Δ‖ / ‖before‖, and the largest |Δ|."""

    name: str
    norm: float
    relative: float
    max_abs: float


def diff_snapshots(before: Mapping[str, np.ndarray], after: Mapping[str, np.ndarray]) -> list[ParameterChange]:
    """Every parameter's change from ``before`` to ``after``, the most moved (relative) first."""
    if set(before) != set(after):
        raise SnapshotError("the two snapshots hold different parameters (not the same model)")
    out: list[ParameterChange] = []
    for name in before:
        a, b = np.asarray(before[name], np.float64), np.asarray(after[name], np.float64)
        if a.shape != b.shape:
            raise SnapshotError(f"parameter {name!r} has shape {a.shape} in one snapshot and {b.shape} in the other")
        delta = b - a
        norm = float(np.linalg.norm(delta))
        base = float(np.linalg.norm(a))
        out.append(ParameterChange(name, norm, norm / base if base > 0 else math.inf if norm else 0.0,
                                   float(np.abs(delta).max()) if delta.size else 0.0))
    return sorted(out, key=lambda c: -c.relative)
