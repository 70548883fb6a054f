"""Where checkpoints live: the user's models folder and the read-only shipped one, and which names are allowed.

A name is a plain identifier (1–64 letters, digits, ``.``, ``_``, ``-``), so it can never name a path
outside the models folder. A shipped name is reserved: it always means the shipped model.
"""

from __future__ import annotations

import importlib.resources
import os
import re
from pathlib import Path

from core.errors import CheckpointError
from core.paths import user_data_dir
from core.safe_files import is_inside

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # whole name only: fullmatch ("$" allows a final newline)


def user_models_dir() -> Path:
    """Where the user's own runs are saved: ``$LLMLEARN_MODELS`` if set, else ``<user data dir>/models``."""
    env = os.environ.get("LLMLEARN_MODELS")
    return Path(env).expanduser() if env else user_data_dir() / "models"


def default_models_dir() -> Path:
    """The folder checkpoints are saved to by default: the user models folder."""
    return user_models_dir()


def shipped_models_dir() -> Path:
    """The read-only models shipped with the program: the ``saved_models`` data folder installed beside
    the ``core`` package (the repository's top-level ``saved_models/`` in a checkout or an editable
    install; ``site-packages/saved_models/`` from a wheel)."""
    return Path(str(importlib.resources.files("core"))).parent / "saved_models"


def valid_name(name: object) -> bool:
    return isinstance(name, str) and bool(_NAME.fullmatch(name)) and ".." not in name


def entries(base: Path) -> list[Path]:
    """The checkpoint directories in ``base`` (sorted; no hidden, staging or badly named entries)."""
    if not base.is_dir():
        return []
    return [e for e in sorted(base.iterdir()) if e.is_dir() and not e.name.startswith(".") and _NAME.fullmatch(e.name)]


def shipped_names() -> list[str]:
    """The names of the shipped models (exact spelling, sorted)."""
    return [e.name for e in entries(shipped_models_dir())]


def is_shipped(name: str | None) -> bool:
    """Is ``name`` a model shipped with the program (read-only: never saved over)?"""
    return valid_name(name) and name in shipped_names()


def inside(path: Path, folder: Path) -> bool:
    return is_inside(path, folder)


def checkpoint_dir(name: str, root: str | os.PathLike[str] | None = None) -> Path:
    """The directory a save of checkpoint ``name`` goes to (``root``, default the user models folder);
    refuses names that could escape the models directory."""
    if not valid_name(name):
        raise CheckpointError(
            f"invalid checkpoint name {name!r}: use 1–64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit (no paths)"
        )
    return (Path(root) if root is not None else user_models_dir()) / name


def find_checkpoint(name: str, root: str | os.PathLike[str] | None = None) -> Path:
    """The directory checkpoint ``name`` is read from: ``root/name`` if ``root`` is given; else the
    shipped model of that name if there is one (a shipped name is reserved), else the user's."""
    path = checkpoint_dir(name, root)
    if root is None and is_shipped(name):
        return shipped_models_dir() / name
    return path


def refuse_shipped(name: str, final: Path) -> None:
    shipped = shipped_models_dir()
    if is_shipped(name):
        raise CheckpointError(f"{name!r} is a model shipped with the workbench and is never overwritten: "
                              "save under another name")
    if inside(final, shipped):
        raise CheckpointError(f"{final} is inside the folder of shipped models ({shipped}), which is read-only: "
                              "save to the user models folder (unset LLMLEARN_MODELS, or point it elsewhere)")
