"""Saving a checkpoint atomically: a complete new directory is written beside the old one and swapped in.

A crash at any point leaves either the previous checkpoint or the new one; the next save or read
finishes or rolls back an interrupted swap.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save as st_save

from core.atomic import atomic_write_text
from core.data.vocab import VOCAB
from core.errors import CheckpointError
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


def save_checkpoint(
    run: Run,
    name: str,
    root: str | os.PathLike[str] | None = None,
    history: list[dict[str, Any]] | None = None,
    metrics: dict[str, Any] | None = None,
) -> Path:
    """Save ``run`` as checkpoint ``name`` atomically (in ``root``, default the user models folder);
    returns its directory.

    Refuses a shipped model's name and any path inside the shipped folder (shipped models are never
    overwritten), and non-finite weights, so a diverged run can never overwrite a good checkpoint.
    """
    final = checkpoint_dir(name, root)
    refuse_shipped(name, final)
    if not np.all(np.isfinite(run.model.params.data)):
        raise CheckpointError("the model's weights are not finite (the run diverged); refusing to save them")
    final.parent.mkdir(parents=True, exist_ok=True)
    recover(final)
    trainer, opt = run.trainer, run.trainer.optimizer
    config = {
        "format": FORMAT,
        "version": VERSION,
        "run": run.config.to_dict(),
        "vocab": VOCAB.to_dict(),
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
    staging = final.parent / f".{final.name}.saving"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        _write_bytes(staging / WEIGHTS_FILE, blob)
        _write_bytes(staging / HISTORY_FILE, history_blob)
        atomic_write_text(staging / CONFIG_FILE, json.dumps(config, indent=2) + "\n")
        _swap_in(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _swap_in(staging: Path, final: Path) -> None:
    """Replace ``final`` by the complete ``staging`` directory: rename old away, rename new in, delete old."""
    old = final.parent / f".{final.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.rename(final, old)
    os.rename(staging, final)
    shutil.rmtree(old, ignore_errors=True)


def recover(final: Path) -> None:
    """Finish the cleanup of an interrupted save: restore the previous checkpoint if the swap stopped
    half-way, and drop an incomplete staging directory."""
    old = final.parent / f".{final.name}.old"
    if not final.exists() and old.exists():
        os.rename(old, final)
    shutil.rmtree(final.parent / f".{final.name}.saving", ignore_errors=True)
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
