"""Reading a file that may be hostile: only a regular file, only inside its folder, never more than a bound.

A checkpoint or dataset file can be anything a user (or someone who handed them a folder) put there:
a symlink to ``/dev/zero`` (an endless read that fills memory), a FIFO (``open`` blocks for ever), a
device, a symlink out of the models folder, a 50 GB file. ``read_regular_file`` refuses all of those
before reading a byte:

    open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)   no symlink as the last component; a FIFO opens
                                                     at once instead of waiting for a writer
    fstat(fd): S_ISREG and st_size <= max_bytes       a regular file of bounded size, checked on the
                                                     descriptor actually read (no check-then-open race)
    read at most max_bytes + 1 bytes                  a file growing while it is read is still bounded

and, when ``inside`` is given, the fully resolved path must lie in the resolved folder (so neither a
symlinked parent nor ``..`` leads out). Every refusal is an ``UnsafeFileError``
with a one-line reason; callers wrap it in their own error (``CheckpointError``, ``DatasetError``).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

MiB = 1 << 20


class UnsafeFileError(Exception):
    """The file is not something we read: a link out of its folder, not a regular file, too big, missing."""


def is_inside(path: Path, folder: Path) -> bool:
    """Does ``path``, with every symlink resolved, lie inside ``folder`` (also resolved)?"""
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop
        return False


def read_regular_file(path: str | os.PathLike[str], max_bytes: int, inside: Path | None = None) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``max_bytes`` bytes (and, when given,
    inside the folder ``inside``); else ``UnsafeFileError`` saying why, in words a user can act on."""
    p = Path(path)
    if inside is not None and not is_inside(p, inside):
        raise UnsafeFileError(f"{p}: leads outside {inside} (a symlink?); refusing to read it")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(p, flags)
    except FileNotFoundError:
        raise UnsafeFileError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise UnsafeFileError(f"{p}: is a directory, not a file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFileError(f"{p}: is a symbolic link; refusing to follow it") from None
        raise UnsafeFileError(f"{p}: cannot open ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise UnsafeFileError(f"{p}: is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFileError(f"{p}: is not a regular file ({_kind(info.st_mode)}); refusing to read it")
        if info.st_size > max_bytes:
            raise UnsafeFileError(f"{p}: is {info.st_size / MiB:,.1f} MiB, more than the {max_bytes / MiB:,.1f} MiB "
                                  "such a file can be")
        chunks: list[bytes] = []
        total = 0
        while total <= max_bytes:
            chunk = os.read(fd, min(max_bytes + 1 - total, 4 * MiB))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > max_bytes:
            raise UnsafeFileError(f"{p}: grew past {max_bytes / MiB:,.1f} MiB while being read; refusing it")
        return b"".join(chunks)
    except OSError as exc:
        raise UnsafeFileError(f"{p}: cannot read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"
