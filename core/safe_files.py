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

``load_json`` parses what was read just as defensively: Python's ``json`` accepts NaN and Infinity,
turns a 5,000-digit number into an int only to fail (``int`` refuses more than 4,300 digits) and
recurses once per ``[`` (100,000 of them: ``RecursionError``). It refuses all three up front, and
every failure is one ``ValueError`` saying what is wrong.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import stat
from pathlib import Path
from typing import Any

import numpy as np

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


#: a JSON string (escapes included), to be skipped when counting brackets
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")


def json_depth(data: bytes) -> int:
    """How deeply the arrays and objects of ``data`` nest (brackets inside strings do not count),
    without recursing: strings and everything but brackets are removed by two regular expressions,
    then the deepest running count of opened minus closed brackets is taken (NumPy, 1 MiB at a time,
    so 16 MiB of brackets take well under a second)."""
    brackets = np.frombuffer(_NOT_BRACKET.sub(b"", _STRING.sub(b"", data)), dtype=np.uint8)
    depth = deepest = 0
    for start in range(0, brackets.size, MiB):
        chunk = brackets[start : start + MiB]
        running = depth + np.cumsum(np.where((chunk == ord("[")) | (chunk == ord("{")), 1, -1), dtype=np.int64)
        deepest = max(deepest, int(running.max()))
        depth = int(running[-1])
    return deepest


def load_json(data: bytes | str, max_depth: int = 32, max_int_digits: int = 40) -> Any:
    """``json.loads(data)``, strictly: nesting at most ``max_depth``, integers of at most
    ``max_int_digits`` digits (40: a 128-bit random state fits), no NaN/Infinity or float overflow
    (``1e999``); any problem, decoding included, is a ``ValueError`` with a short reason."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if json_depth(raw) > max_depth:
        raise ValueError(f"nested more than {max_depth} levels deep")
    try:
        return json.loads(raw, parse_int=lambda s: _int(s, max_int_digits), parse_float=_float,
                          parse_constant=_constant)
    except RecursionError:
        raise ValueError(f"nested more than {max_depth} levels deep") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors too
        raise ValueError(_first_line(str(exc))) from None


def _int(text: str, max_digits: int) -> int:
    if len(text.lstrip("-")) > max_digits:
        raise ValueError(f"an integer of {len(text.lstrip('-')):,} digits (at most {max_digits})")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is out of range")
    return value


def _constant(text: str) -> Any:
    raise ValueError(f"{text} is not a number JSON allows")


def _first_line(text: str) -> str:
    line = text.splitlines()[0] if text else "invalid JSON"
    return line if len(line) <= 200 else f"{line[:200]}…"


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"
