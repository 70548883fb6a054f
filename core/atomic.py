"""Atomic file writes: a reader (or a crash) sees the old file or the new one, never half of one.

The text goes to a temporary file in the same directory (same filesystem, so ``os.replace`` is an
atomic rename), is flushed to disk, and only then replaces the target; the directory is flushed too,
because a rename lives in the directory, and without that a power cut can undo a "saved" file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def atomic_write_text(path: str | os.PathLike[str], text: str, durable: bool = True) -> None:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` atomically; OSError on failure.

    ``durable=False`` skips the fsyncs: the rename is still atomic (a crash of the process leaves the old
    or the new file, never half of one), but a power cut may lose the last write: right for a file
    rewritten every second while training (a run record), where an fsync could stall a step."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a dataset is not a secret
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(target.parent)


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Flush a directory's entries (the names created, renamed or removed in it) to disk.

    Best effort: some systems cannot open a directory (Windows) or refuse to fsync one (EINVAL on a few
    filesystems); the data is then as safe as that system makes it, and nothing better can be done.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
