"""An exclusive lock between processes, held on a small lock file (``fcntl.flock``; ``msvcrt`` on Windows).

Why ``flock``: the kernel releases it when the holder's file descriptor is closed, and so when the
process dies in any way (kill -9, a power cut ends every process anyway). A lock can therefore never
be left stale by a crash, unlike a lock *file* whose mere existence means "locked". The file is only
where the lock is held: the holder removes it on release, and whoever locks a file checks that it is
still the one at the path (so no two processes can ever hold "the" lock on two different files).

Each ``FileLock`` opens its own file description, so two threads of one process exclude each other
too. The holder writes its pid into the file, only so that a process that gives up waiting can say who
holds the lock.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from types import TracebackType

if sys.platform == "win32":  # pragma: no cover - not run on the Linux CI
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


POLL_SECONDS = 0.05  # how often a waiting process tries again


class LockBusyError(Exception):
    """The lock is held by another process (``pid``, or None when it could not be read)."""

    def __init__(self, path: Path, pid: int | None) -> None:
        self.path = path
        self.pid = pid
        super().__init__(f"{path} is locked by {'pid ' + str(pid) if pid else 'another process'}")


class FileLock:
    """``with FileLock(path).acquire(timeout):`` — exclusive while the block runs.

    ``timeout`` 0 tries once (never waits); otherwise waits up to ``timeout`` seconds, then raises
    ``LockBusyError``. Opening the lock file can raise ``OSError`` (e.g. a read-only folder).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self, timeout: float = 0.0, *, record_pid: bool = True) -> FileLock:
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already held by this FileLock")
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                while not _try_lock(fd):
                    if time.monotonic() >= deadline:
                        raise LockBusyError(self.path, _holder_pid(fd))
                    time.sleep(POLL_SECONDS)
            except BaseException:
                os.close(fd)
                raise
            if _same_file(fd, self.path):
                break
            os.close(fd)  # the holder we waited for removed that file on release: lock the current one
        if record_pid:
            with contextlib.suppress(OSError):  # the pid is only for messages
                os.ftruncate(fd, 0)
                os.lseek(fd, 0, os.SEEK_SET)
                os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        """Remove the lock file, then close it, which releases the lock.

        Removing it first is safe because every ``acquire`` checks, once it holds the lock, that the file
        it locked is still the one at ``path`` (else it starts again on the new one); so the folder is
        left clean. A process killed while holding the lock leaves the file, but not the lock: the kernel
        releases that, and the next holder removes the file.
        """
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):  # Windows cannot remove an open file; it stays, harmless
                os.unlink(self.path)
            os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> FileLock:
        if self._fd is None:
            self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _same_file(fd: int, path: Path) -> bool:
    try:
        here, there = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _holder_pid(fd: int) -> int | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 32).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
