"""The list of checkpoints, broken ones included (each with its reason), for ``workbench models`` and the app."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import CheckpointError
from core.train.checkpoint.locations import entries, inside, shipped_models_dir, shipped_names, user_models_dir
from core.train.checkpoint.reader import read_checkpoint


@dataclass(frozen=True)
class CheckpointInfo:
    name: str
    path: Path
    kind: str
    task: str
    step: int
    metrics: dict[str, Any]
    saved_at: str
    error: str | None = None
    shipped: bool = False  # a model shipped with the program (read-only)


def list_checkpoints(root: str | os.PathLike[str] | None = None) -> list[CheckpointInfo]:
    """Every checkpoint: the user's own (sorted by name), then the shipped ones (``shipped=True``), or
    only those in ``root`` if given. A user folder with a shipped model's name is left out (the name
    means the shipped model). Broken checkpoints carry ``error``."""
    shipped = shipped_models_dir()
    if root is not None:
        return _list_folder(Path(root), inside(Path(root), shipped))
    user = user_models_dir()
    reserved = set(shipped_names())
    mine = [] if inside(user, shipped) else [i for i in _list_folder(user, False) if i.name not in reserved]
    return mine + _list_folder(shipped, True)


def _list_folder(base: Path, shipped: bool) -> list[CheckpointInfo]:
    out = []
    for entry in entries(base):
        try:
            ck = read_checkpoint(entry.name, base)
        except CheckpointError as exc:
            out.append(CheckpointInfo(entry.name, entry, "?", "?", 0, {}, "", str(exc), shipped))
            continue
        out.append(CheckpointInfo(ck.name, ck.path, ck.config.model.kind, ck.task_description,
                                  int(ck.state.get("step", 0)), ck.metrics, ck.saved_at, None, shipped))
    return out
