"""Saving a checkpoint atomically: a complete new directory is written beside the old one and swapped in.

A crash at any point leaves either the previous checkpoint or the new one; the next save or read
finishes or rolls back an interrupted swap. Every file, the staging folder and the models folder are
fsynced, so once a save returns a power cut cannot take the checkpoint back.

Several processes (two ``workbench train --out K``, the app, a ``workbench predict K``) may use one
name at once, so:
  * each save writes into a staging folder of its own (``.K.saving-PID-HEX``), and the swap and every
    cleanup happen under the name's lock (``.K.lock``, ``core.file_lock``: released by the kernel when
    its holder dies, so a kill -9 never leaves it stale); a second saver waits for the first, a bounded
    time, then fails with one clear line;
  * a reader never waits and never deletes what it does not hold the lock for: if the lock is free it
    recovers under it and reads; if a save is running it reads whichever complete checkpoint is there
    (``K/``, or ``.K.old`` while the swap is mid-way) and reads again if a swap changed it under it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from safetensors.numpy import save as st_save

from core.atomic import fsync_dir
from core.data.vocab import VOCAB
from core.errors import CheckpointError
from core.file_lock import POLL_SECONDS, FileLock, LockBusyError
from core.train.checkpoint.format import (
    CONFIG_FILE,
    EDITABLE,
    FORMAT,
    HISTORY_FILE,
    VERSION,
    WEIGHTS_FILE,
    canonical,
    dataset_fingerprint,
    json_safe,
    sha256,
)
from core.train.checkpoint.locations import checkpoint_dir, refuse_shipped
from core.train.run import Run

LOCK_TIMEOUT = 30.0  # seconds a save waits for another process saving the same name
_SAVING = ".saving"
_READ_ATTEMPTS = 20  # a reader racing a save loop reads again at most this often (50 ms apart)
T = TypeVar("T")
_REASONS = {errno.ENOSPC: "no space left on device", getattr(errno, "EDQUOT", -1): "disk quota exceeded",
            errno.EROFS: "the folder is read-only", errno.EACCES: "permission denied",
            errno.EPERM: "permission denied"}


def save_checkpoint(
    run: Run,
    name: str,
    root: str | os.PathLike[str] | None = None,
    history: list[dict[str, Any]] | None = None,
    metrics: dict[str, Any] | None = None,
    *,
    lock_timeout: float = LOCK_TIMEOUT,
) -> Path:
    """Save ``run`` as checkpoint ``name`` atomically (in ``root``, default the user models folder);
    returns its directory.

    Refuses a shipped model's name and any path inside the shipped folder (shipped models are never
    overwritten), and non-finite weights, so a diverged run can never overwrite a good checkpoint.
    Another process saving the same name is waited for up to ``lock_timeout`` seconds; then, like a
    full disk or a read-only folder, it is a ``CheckpointError`` and the previous checkpoint is kept.
    """
    final = checkpoint_dir(name, root)
    refuse_shipped(name, final)
    if not np.all(np.isfinite(run.model.params.data)):
        raise CheckpointError("the model's weights are not finite (the run diverged); refusing to save them")
    trainer, opt = run.trainer, run.trainer.optimizer
    config = {
        "format": FORMAT,
        "version": VERSION,
        "run": run.config.to_dict(),
        "vocab": VOCAB.prefix(run.config.model.vocab_size).to_dict(),
        "state": {
            "step": run.step,
            "epoch": run.epoch,
            "batch_index": run.batch_index,
            "lr_scale": trainer.lr_scale,
            "clip_norm": trainer.clip_norm,
            "optimizer": {k: getattr(opt, k) for k in EDITABLE if hasattr(opt, k)},
            "rng": run.model.rng.bit_generator.state,
            "edits": run.edits,
        },
        "dataset_fingerprint": dataset_fingerprint(run),
        "metrics": json_safe(metrics or {}),
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    history_blob = "".join(json.dumps(json_safe(h)) + "\n" for h in history or []).encode()
    config["history"] = {"file": HISTORY_FILE, "sha256": sha256(history_blob), "bytes": len(history_blob)}
    tensors = {f"model.{p.name}": np.ascontiguousarray(p.value) for p in run.model.params}
    tensors.update(opt.state_dict())
    blob = st_save(tensors, metadata={"format": FORMAT, "config_sha256": sha256(canonical(config))})
    config["weights"] = {"file": WEIGHTS_FILE, "sha256": sha256(blob), "bytes": len(blob)}
    files = {WEIGHTS_FILE: blob, HISTORY_FILE: history_blob,
             CONFIG_FILE: (json.dumps(config, indent=2) + "\n").encode()}  # config last: it vouches for the rest
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        with _lock_for_saving(final, lock_timeout):
            recover(final)
            _write_and_swap(final, files)
    except OSError as exc:  # full disk, quota, read-only or forbidden folder: the swap was rolled back
        raise CheckpointError(_cannot_save(final, exc)) from None
    return final


def _lock_for_saving(final: Path, timeout: float) -> FileLock:
    try:
        return FileLock(lock_path(final)).acquire(timeout)
    except LockBusyError as exc:
        who = f"pid {exc.pid}" if exc.pid else "pid unknown"
        raise CheckpointError(f"{final.name} is being saved by another process ({who}); try again "
                              f"(waited {timeout:g} s)") from None


def _write_and_swap(final: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` into a staging folder of this save's own, then swap it in; on any failure (or
    interruption) put the previous checkpoint back and remove the staging folder. The lock is held."""
    staging = final.parent / f".{final.name}{_SAVING}-{os.getpid()}-{secrets.token_hex(4)}"
    staging.mkdir()  # not mkdtemp: that would create it 0700 instead of following the umask
    try:
        for file_name, data in files.items():
            _write_bytes(staging / file_name, data)
        fsync_dir(staging)
        _swap_in(staging, final)
    except BaseException:
        with contextlib.suppress(OSError):
            _roll_back(staging, final)
        raise


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _swap_in(staging: Path, final: Path) -> None:
    """Replace ``final`` by the complete ``staging`` directory: rename old away, rename new in, delete old.

    The models folder is flushed once the new checkpoint has its name, so a power cut after "saved"
    keeps it; errors after that point only leave an ``.old`` folder for the next recovery to drop.
    """
    old = old_path(final)
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.rename(final, old)
    os.rename(staging, final)
    fsync_dir(final.parent)
    shutil.rmtree(old, ignore_errors=True)
    fsync_dir(final.parent)


def _roll_back(staging: Path, final: Path) -> None:
    old = old_path(final)
    if not final.exists() and old.exists():
        os.rename(old, final)
    shutil.rmtree(staging, ignore_errors=True)
    fsync_dir(final.parent)


def recover(final: Path) -> None:
    """Finish the cleanup of interrupted saves: restore the previous checkpoint if a swap stopped
    half-way, and drop every staging folder of this name.

    Only call it while holding the name's lock (``lock_path``): a staging folder or an ``.old`` folder
    is then certainly left by a process that died, never another process's work in progress.
    """
    old = old_path(final)
    if not final.exists() and old.exists():
        os.rename(old, final)
    for stale in staging_folders(final):
        shutil.rmtree(stale, ignore_errors=True)
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
    fsync_dir(final.parent)


def lock_path(final: Path) -> Path:
    """The lock file of checkpoint ``final``'s name (hidden, beside it; there only while held: core/file_lock.py)."""
    return final.parent / f".{final.name}.lock"


def old_path(final: Path) -> Path:
    """Where the previous checkpoint waits during a swap."""
    return final.parent / f".{final.name}.old"


def staging_folders(final: Path) -> list[Path]:
    """This name's staging folders: ``.NAME.saving-PID-HEX`` (``.NAME.saving`` from older versions).

    Exact match, so that another name's folders (e.g. of ``NAME.saving-x``) are never taken for these.
    """
    pattern = re.compile(rf"\.{re.escape(final.name)}{_SAVING}(-[0-9a-f-]*)?")
    try:
        return [e for e in final.parent.iterdir() if pattern.fullmatch(e.name)]
    except OSError:
        return []


def _cannot_save(final: Path, exc: OSError) -> str:
    """One line: what stopped the save, where, and that the previous checkpoint (if any) is untouched."""
    reason = _REASONS.get(exc.errno or 0) or str(exc.strerror or exc)
    reason = reason[:1].lower() + reason[1:]
    kept = "the previous checkpoint is kept" if final.exists() else "nothing was saved"
    return f"cannot save {final.name}: {reason} ({final.parent}); {kept}"


def read_consistently(final: Path, read: Callable[[Path], T]) -> T:
    """``read(directory)`` of checkpoint ``final`` with no save half-done under it (see the module doc).

    ``read`` raises ``CheckpointError`` for anything it cannot use; that error is final unless a save
    swapped the directory while it was being read, in which case the (new) complete one is read.
    """
    if not final.exists() and not old_path(final).exists():
        return read(final)  # nothing to recover; ``read`` says there is no such checkpoint
    lock = FileLock(lock_path(final))
    try:
        lock.acquire(0, record_pid=False)
    except (LockBusyError, OSError):  # a save is running (or the folder is read-only): touch nothing
        return _read_while_saving(final, read)
    try:
        with contextlib.suppress(OSError):
            recover(final)
        return read(final)
    finally:
        lock.release()


def _read_while_saving(final: Path, read: Callable[[Path], T]) -> T:
    attempts = 0
    while True:
        where = final if final.exists() or not old_path(final).exists() else old_path(final)
        before = _identity(where)
        try:
            return read(where)
        except CheckpointError:
            attempts += 1
            if attempts >= _READ_ATTEMPTS or (before is not None and _identity(where) == before):
                raise  # the same directory, still broken: not a swap in progress
        time.sleep(POLL_SECONDS)


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino
