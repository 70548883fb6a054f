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
    """One entry per checkpoint directory of ``base``; one that cannot be read (whatever it holds: a
    FIFO, a symlink out of the folder, a crafted config) is listed with its reason, never raised, so
    it can neither hide the others nor stop the listing."""
    try:
        found = entries(base)
    except OSError as exc:  # the folder itself cannot be listed: say so, as one unreadable entry
        return [_broken(base.name or str(base), base, f"{base}: cannot list the folder ({exc.strerror or exc})",
                        shipped)]
    out = []
    for entry in found:
        try:
            ck = read_checkpoint(entry.name, base)
            info = CheckpointInfo(ck.name, ck.path, ck.config.model.kind, ck.task_description,
                                  int(ck.state.get("step", 0)), ck.metrics, ck.saved_at, None, shipped)
        except CheckpointError as exc:
            info = _broken(entry.name, entry, str(exc), shipped)
        except Exception as exc:  # read_checkpoint turns everything into CheckpointError; this is the backstop
            info = _broken(entry.name, entry, f"{entry}: unreadable ({type(exc).__name__}: {exc})", shipped)
        out.append(info)
    return out


def _broken(name: str, path: Path, reason: str, shipped: bool) -> CheckpointInfo:
    return CheckpointInfo(name, path, "?", "?", 0, {}, "", reason.splitlines()[0] if reason else "unreadable",
                          shipped)
