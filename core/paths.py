"""Where the program keeps the user's files: one per-user data directory (platformdirs), e.g.
``~/.local/share/llmlearn-workbench`` on Linux, ``~/Library/Application Support/llmlearn-workbench`` on
macOS, ``%LOCALAPPDATA%\\llmlearn-workbench`` on Windows.

    <user data dir>/models/     the user's own checkpoints (``$LLMLEARN_MODELS`` replaces this folder)
    <user data dir>/datasets/   dataset files saved from the app (the default for a relative path)

``$LLMLEARN_DATA`` replaces the whole data directory. Nothing here creates a directory: whoever writes
a file creates its folder. The models that ship with the program are read-only package data, found by
``core.train.checkpoint.shipped_models_dir()``.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "llmlearn-workbench"


def user_data_dir() -> Path:
    """``$LLMLEARN_DATA`` if set, else the platform's per-user data directory for this program."""
    env = os.environ.get("LLMLEARN_DATA")
    return Path(env).expanduser() if env else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
