"""What the learner has done in the Learn pane, remembered between sessions: lessons opened and finished,
exercises answered correctly.

One small JSON file in the per-user data directory (``core.paths.user_data_dir()``), written atomically
(``core.atomic.atomic_write_text``) after every change, so a crash never leaves half a file::

    {"version": 1, "opened": ["01-tokens"], "finished": [], "solved": ["01-tokens/vocab-size"]}

A file that cannot be read or does not have this shape (hand-edited, from a future version, truncated by a
full disk) is not fatal: progress starts empty and ``warning`` says why, for the UI to show once. A save
that fails (read-only folder) is kept in memory and reported the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from core.atomic import atomic_write_text
from core.paths import user_data_dir

PROGRESS_FILE = "learn_progress.json"
VERSION = 1
_KEYS = ("opened", "finished", "solved")


def progress_path() -> Path:
    return user_data_dir() / PROGRESS_FILE


@dataclass
class LearnProgress:
    path: Path
    opened: set[str] = field(default_factory=set)  # lesson keys "NN-slug"
    finished: set[str] = field(default_factory=set)
    solved: set[str] = field(default_factory=set)  # "NN-slug/exercise-id"
    warning: str | None = None

    @classmethod
    def load(cls, path: Path | None = None) -> LearnProgress:
        """The saved progress, or empty progress (with ``warning`` set when a file was there but unusable)."""
        path = path or progress_path()
        progress = cls(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return progress
        except (OSError, UnicodeDecodeError) as exc:
            progress.warning = f"could not read your lesson progress ({exc}); starting afresh"
            return progress
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("version") != VERSION:
                raise ValueError(f"expected version {VERSION}")
            for key in _KEYS:
                items = data.get(key, [])
                if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
                    raise ValueError(f"{key!r} must be a list of names")
                setattr(progress, key, set(items))
        except ValueError as exc:
            progress = cls(path, warning=f"your lesson progress file {path} was unreadable ({exc}); "
                                         "starting afresh")
        return progress

    def to_json(self) -> str:
        return json.dumps({"version": VERSION, **{k: sorted(getattr(self, k)) for k in _KEYS}}, indent=1) + "\n"

    def save(self) -> bool:
        """Write the file atomically; False (and ``warning`` set) if it could not be written."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path, self.to_json())
        except OSError as exc:
            self.warning = f"could not save your lesson progress: {exc}"
            return False
        return True

    # -- changes, each saved at once -----------------------------------------------------------------
    def mark_opened(self, lesson: str) -> None:
        if lesson not in self.opened:
            self.opened.add(lesson)
            self.save()

    def mark_finished(self, lesson: str) -> None:
        if lesson not in self.finished:
            self.opened.add(lesson)
            self.finished.add(lesson)
            self.save()

    def mark_solved(self, lesson: str, exercise: str) -> None:
        key = f"{lesson}/{exercise}"
        if key not in self.solved:
            self.solved.add(key)
            self.save()

    def is_solved(self, lesson: str, exercise: str) -> bool:
        return f"{lesson}/{exercise}" in self.solved

    def reset(self) -> None:
        """Forget everything (and save that)."""
        self.opened.clear()
        self.finished.clear()
        self.solved.clear()
        self.save()


def first_visit(path: Path | None = None) -> bool:
    """Is this the first time the workbench opens for this user (no progress file yet)? The visit is
    recorded (an empty progress file is written), so only the very first start opens on the Learn pane."""
    progress = LearnProgress(path or progress_path())
    if progress.path.exists():
        return False
    progress.save()  # a read-only data folder: every start is a "first" one, which is harmless
    return True
