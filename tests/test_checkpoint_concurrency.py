"""Checkpoint saves between processes: two savers of one name, a reader during a save, kill -9 at each
step of a save, a full disk. Children are forked (no re-import: a few seconds in all) and stopped at an
exact point of the save by patching the writer in the child, so nothing here depends on timing."""

from __future__ import annotations

import errno
import multiprocessing
import os
import shutil
import signal
from collections.abc import Callable
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import pytest

from core.errors import CheckpointError
from core.train.checkpoint import read_checkpoint, save_checkpoint
from core.train.checkpoint import writer as ckpt_writer
from core.train.run import Run
from tests.conftest import tiny_config

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the children are forked")
CTX = multiprocessing.get_context("fork")
WAIT = 60.0  # only a guard against a hang if the code under test is broken; never reached when it works
NAME = "K"


def _run(steps: int) -> Run:
    run = Run(tiny_config())
    for _ in range(steps):
        run.train_step()
    return run


def _leftovers(models_dir: Path) -> list[str]:
    return sorted(p.name for p in models_dir.iterdir())


def _pause(holding: Event, release: Event) -> None:
    holding.set()
    release.wait(WAIT)


def _stop_at(point: str, name: str, action: Callable[[], None]) -> None:
    """Patch the writer (in this child only) so that ``action`` runs at ``point`` of the next save."""
    real_write, real_rename, real_rmtree = ckpt_writer._write_bytes, os.rename, shutil.rmtree
    if point == "write":  # the first file half written
        def write(path: Path, data: bytes) -> None:
            path.write_bytes(data[: len(data) // 2])
            action()
            real_write(path, data)
        ckpt_writer._write_bytes = write
    elif point in ("old-moved", "new-in"):  # previous renamed to .K.old / new renamed to K, .K.old still there
        def rename(src: Any, dst: Any) -> None:
            real_rename(src, dst)
            if point == "old-moved" and Path(dst).name == f".{name}.old":
                action()
            if point == "new-in" and Path(dst).name == name and Path(src).name.startswith(f".{name}.saving"):
                action()
        os.rename = rename  # type: ignore[assignment]
    elif point == "cleanup":  # .K.old half deleted
        def rmtree(path: Any, *args: Any, **kw: Any) -> None:
            if Path(path).name == f".{name}.old" and Path(path).exists():
                next(Path(path).iterdir()).unlink()
                action()
            real_rmtree(path, *args, **kw)
        shutil.rmtree = rmtree  # type: ignore[assignment]


def _saver(run: Run, point: str | None, holding: Event | None, release: Event | None,
           lock_timeout: float | None, results: Any) -> None:
    """A child process: save ``run`` as K, pausing (or dying) at ``point``; report what happened."""
    if point is not None:
        if holding is None or release is None:
            _stop_at(point, NAME, lambda: os.kill(os.getpid(), signal.SIGKILL))
        else:
            _stop_at(point, NAME, lambda: _pause(holding, release))
    try:
        if lock_timeout is None:  # the default (and the only call the code before the lock understood)
            save_checkpoint(run, NAME)
        else:
            save_checkpoint(run, NAME, lock_timeout=lock_timeout)
    except CheckpointError as exc:
        results.put(("error", str(exc)))
    else:
        results.put(("saved", ""))


def _start(run: Run, point: str | None = None, pause: bool = False,
           lock_timeout: float | None = None) -> tuple[Any, ...]:
    holding, release = (CTX.Event(), CTX.Event()) if pause else (None, None)
    results = CTX.Queue()
    proc = CTX.Process(target=_saver, args=(run, point, holding, release, lock_timeout, results))
    proc.start()
    if holding is not None:
        assert holding.wait(WAIT), "the child never reached the pause point"
    return proc, results, release


def _finish(proc: Any, results: Any) -> tuple[str, str]:
    outcome = results.get(timeout=WAIT)
    proc.join(WAIT)
    assert proc.exitcode == 0
    return outcome


def test_a_second_saver_waits_for_the_first_and_both_saves_land(models_dir: Path) -> None:
    save_checkpoint(_run(1), NAME)
    first, results_a, release = _start(_run(2), "write", pause=True)  # holds K's lock mid-write
    second, results_b, _ = _start(_run(3))  # must not delete the first one's staging folder
    release.set()
    assert _finish(first, results_a) == ("saved", "")
    assert _finish(second, results_b) == ("saved", "")
    assert read_checkpoint(NAME).state["step"] == 3  # the second waited, so it saved last
    assert _leftovers(models_dir) == [NAME]


def test_a_second_saver_gives_up_after_its_timeout_with_one_clear_line(models_dir: Path) -> None:
    save_checkpoint(_run(1), NAME)
    first, results_a, release = _start(_run(2), "write", pause=True)
    try:
        second, results_b, _ = _start(_run(3), lock_timeout=0.2)
        status, message = _finish(second, results_b)
    finally:
        release.set()
    assert status == "error"
    assert message == f"{NAME} is being saved by another process (pid {first.pid}); try again (waited 0.2 s)"
    assert _finish(first, results_a) == ("saved", "")
    assert read_checkpoint(NAME).state["step"] == 2


@pytest.mark.parametrize("point", ["write", "old-moved"])
def test_a_reader_during_a_save_reads_the_previous_checkpoint_and_leaves_the_save_alone(
    models_dir: Path, point: str
) -> None:
    save_checkpoint(_run(1), NAME)
    writer, results, release = _start(_run(2), point, pause=True)
    try:
        during = read_checkpoint(NAME)  # returns at once: a reader never waits for the lock
    finally:
        release.set()
    assert (during.name, during.path, during.state["step"]) == (NAME, models_dir / NAME, 1)
    assert _finish(writer, results) == ("saved", "")
    assert read_checkpoint(NAME).state["step"] == 2
    assert _leftovers(models_dir) == [NAME]


@pytest.mark.parametrize(("point", "expected_step"), [("write", 1), ("old-moved", 1), ("new-in", 2), ("cleanup", 2)])
def test_kill_9_at_any_point_of_a_save_leaves_a_readable_checkpoint(
    models_dir: Path, point: str, expected_step: int
) -> None:
    save_checkpoint(_run(1), NAME)
    proc, _, _ = _start(_run(2), point)
    proc.join(WAIT)
    assert proc.exitcode == -signal.SIGKILL
    assert set(_leftovers(models_dir)) - {f".{NAME}.lock", NAME}  # the kill left something to recover
    assert read_checkpoint(NAME).state["step"] == expected_step  # the lock died with the process
    save_checkpoint(_run(3), NAME)
    assert read_checkpoint(NAME).state["step"] == 3
    assert _leftovers(models_dir) == [NAME]


def test_stale_staging_folders_go_but_another_names_are_kept(models_dir: Path) -> None:
    models_dir.mkdir()
    for stale in (f".{NAME}.saving", f".{NAME}.saving-999-deadbeef", f".{NAME}.saving-x.saving-1-ab"):
        (models_dir / stale).mkdir()
    save_checkpoint(_run(1), NAME)
    assert _leftovers(models_dir) == [f".{NAME}.saving-x.saving-1-ab", NAME]


@pytest.mark.parametrize("point", ["mkdir", "write", "swap"])
def test_a_full_disk_is_one_line_and_keeps_the_previous_checkpoint(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    save_checkpoint(_run(1), NAME)
    real_write, real_rename, real_mkdir = ckpt_writer._write_bytes, os.rename, Path.mkdir
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def write(path: Path, data: bytes) -> None:
        if path.name != ckpt_writer.WEIGHTS_FILE:  # the second file finds the disk full
            raise full
        real_write(path, data)

    def rename(src: Any, dst: Any) -> None:
        if Path(src).name.startswith(f".{NAME}.saving"):  # the previous checkpoint is already moved away
            raise full
        real_rename(src, dst)

    def mkdir(self: Path, *args: Any, **kw: Any) -> None:
        if self.name.startswith(f".{NAME}.saving"):
            raise full
        real_mkdir(self, *args, **kw)

    with monkeypatch.context() as patch:
        {"mkdir": lambda: patch.setattr(Path, "mkdir", mkdir),
         "write": lambda: patch.setattr(ckpt_writer, "_write_bytes", write),
         "swap": lambda: patch.setattr(ckpt_writer.os, "rename", rename)}[point]()
        with pytest.raises(CheckpointError) as caught:
            save_checkpoint(_run(2), NAME)
    assert str(caught.value) == (f"cannot save {NAME}: no space left on device ({models_dir}); "
                                 "the previous checkpoint is kept")
    assert read_checkpoint(NAME).state["step"] == 1
    assert _leftovers(models_dir) == [NAME]


def test_a_full_disk_on_the_first_save_says_nothing_was_saved(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def write(path: Path, data: bytes) -> None:
        raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))

    monkeypatch.setattr(ckpt_writer, "_write_bytes", write)
    with pytest.raises(CheckpointError, match=r"^cannot save K: disk quota exceeded \(.*\); nothing was saved$"):
        save_checkpoint(_run(1), NAME)
    assert _leftovers(models_dir) == []


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names fsynced descriptors through /proc")
def test_every_file_and_both_folders_are_fsynced_before_the_save_returns(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_checkpoint(_run(1), NAME)
    events: list[tuple[str, str]] = []
    real_fsync, real_rename = os.fsync, os.rename

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def rename(src: Any, dst: Any) -> None:
        real_rename(src, dst)
        events.append(("rename", os.fspath(dst)))

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    save_checkpoint(_run(2), NAME)
    synced = [Path(p) for kind, p in events if kind == "fsync"]
    staging = next(p for p in synced if p.name.startswith(f".{NAME}.saving-"))
    assert {p.name for p in synced if p.parent == staging} == {"weights.safetensors", "history.jsonl",
                                                                  "config.json"}
    assert staging in synced  # the folder holding the three names
    moved_in = events.index(("rename", str(models_dir / NAME)))
    assert ("fsync", str(models_dir)) in events[moved_in:]  # the rename itself reached the disk


def test_a_waiter_whose_lock_file_was_removed_locks_the_current_one(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The holder removes the lock file on release; a waiter that had opened it must not then hold a
    lock on the removed file while a newcomer locks the new one."""
    import threading

    from core import file_lock

    path = tmp_path / ".K.lock"
    first = file_lock.FileLock(path).acquire()
    waiting, got = threading.Event(), threading.Event()
    real_try = file_lock._try_lock

    def try_lock(fd: int) -> bool:
        if threading.current_thread().name == "waiter":
            waiting.set()  # it has opened the (soon removed) file and found it locked
        return real_try(fd)

    monkeypatch.setattr(file_lock, "_try_lock", try_lock)
    second = file_lock.FileLock(path)

    def wait_for_it() -> None:
        second.acquire(WAIT)
        got.set()

    thread = threading.Thread(target=wait_for_it, name="waiter")
    thread.start()
    assert waiting.wait(WAIT)
    first.release()
    thread.join(WAIT)
    assert got.is_set()
    with pytest.raises(file_lock.LockBusyError):
        file_lock.FileLock(path).acquire(0)
    second.release()
    assert not path.exists()
