"""Reading a checkpoint back: every file parsed as data, every checksum verified, any problem one error."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load as st_load

from core.data.vocab import VOCAB, Vocabulary
from core.errors import CheckpointError, LLMLearnError
from core.nn.models import build_model
from core.nn.models.factory import Model
from core.safe_files import UnsafeFileError, load_json, read_regular_file
from core.train.checkpoint.contents import (
    MAX_CONFIG_BYTES,
    MAX_HISTORY_BYTES,
    check_metrics,
    check_state,
    check_text,
    max_weights_bytes,
    parse_history,
    parse_json,
)
from core.train.checkpoint.format import (
    CONFIG_FILE,
    EDITABLE,
    FORMAT,
    HISTORY_FILE,
    VERSION,
    WEIGHTS_FILE,
    canonical,
    dataset_fingerprint,
    sha256,
)
from core.train.checkpoint.locations import find_checkpoint, inside, shipped_models_dir
from core.train.checkpoint.writer import read_consistently
from core.train.run import Run, RunConfig


@dataclass
class Checkpoint:
    """A checkpoint read and verified from disk (nothing built yet)."""

    name: str
    path: Path
    config: RunConfig
    state: dict[str, Any]
    metrics: dict[str, Any]
    tensors: dict[str, np.ndarray]
    fingerprint: str
    saved_at: str
    history: list[dict[str, Any]] = field(default_factory=list)
    shipped: bool = False  # read from the shipped (read-only) models folder

    @property
    def task_description(self) -> str:
        return self.config.dataset.task.describe()

    def build_model(self) -> Model:
        """The model with the saved weights (evaluation mode); any failure is a ``CheckpointError``."""
        try:
            model = build_model(self.config.model, seed=self.config.seed)
            model.params.load_state_dict(self._model_tensors())
        except LLMLearnError as exc:
            raise CheckpointError(f"{self.path}: {exc}") from None
        except Exception as exc:  # MemoryError, or anything a crafted file provokes: one line, never a traceback
            raise CheckpointError(f"{self.path}: cannot build the model ({type(exc).__name__}: {exc})") from None
        model.eval()
        return model

    def _model_tensors(self) -> dict[str, np.ndarray]:
        return {k[6:]: v for k, v in self.tensors.items() if k.startswith("model.")}

    def build_run(self) -> tuple[Run, list[str]]:
        """The run, restored to continue exactly where it was saved; plus warnings (e.g. the dataset
        regenerated from the config differs from the one trained on). The state was checked when it was
        read (``contents.check_state``); any failure here is still a ``CheckpointError``."""
        try:
            return self._build_run()
        except LLMLearnError as exc:
            raise CheckpointError(f"{self.path}: {exc}") from None
        except Exception as exc:  # MemoryError, or anything a crafted file provokes: one line, never a traceback
            raise CheckpointError(f"{self.path}/{CONFIG_FILE}: cannot restore the run "
                                  f"({type(exc).__name__}: {exc})") from None

    def _build_run(self) -> tuple[Run, list[str]]:
        run = Run(self.config)
        warnings = []
        if dataset_fingerprint(run) != self.fingerprint:
            warnings.append("the dataset regenerated from the saved config differs from the one this model was "
                            "trained on (different generator version?); training continues on the new one")
        run.model.params.load_state_dict(self._model_tensors())
        run.trainer.optimizer.load_state_dict(self.tensors)
        s = self.state
        run.epoch, run.batch_index = int(s["epoch"]), int(s["batch_index"])
        run.trainer.lr_scale = float(s["lr_scale"])
        run.trainer.clip_norm = float(s["clip_norm"])
        for key, value in s.get("optimizer", {}).items():
            if key in EDITABLE and hasattr(run.trainer.optimizer, key):
                setattr(run.trainer.optimizer, key, float(value))
        run.model.rng.bit_generator.state = s["rng"]
        run.edits = [dict(e) for e in s.get("edits", [])]
        if run.step != int(s["step"]):
            raise CheckpointError(f"{self.path}: the step count in the weights ({run.step}) does not match "
                                  f"config.json ({s['step']})")
        run.model.train()
        return run, warnings


def read_checkpoint(name: str, root: str | os.PathLike[str] | None = None) -> Checkpoint:
    """Read and verify checkpoint ``name`` (see ``find_checkpoint`` for where it is looked up). Any
    problem raises ``CheckpointError`` naming the file."""
    path = find_checkpoint(name, root)
    if inside(path, shipped_models_dir()):  # the shipped folder is read-only: nothing to recover
        return read_checkpoint_dir(path)
    # Recovers an interrupted save only under the name's lock; during another process's save, reads the
    # complete checkpoint that is there (the previous one, from ``.NAME.old``, while the swap is mid-way).
    ck = read_consistently(path, read_checkpoint_dir)
    return ck if ck.path == path else replace(ck, name=path.name, path=path)


def read_checkpoint_dir(path: Path, folder: Path | None = None) -> Checkpoint:
    """Read and verify the checkpoint directory ``path`` of the models folder ``folder`` (default its
    parent): every file a regular one inside ``folder`` and within its size bound, parsed strictly,
    every part checked (``contents``). Any problem, whatever the file holds, is one ``CheckpointError``."""
    folder = path.parent if folder is None else folder
    try:
        return _read(path, folder)
    except CheckpointError:
        raise
    except LLMLearnError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    except Exception as exc:  # a case the checks above missed must still be one line, naming the checkpoint
        raise CheckpointError(f"{path}: unreadable checkpoint ({type(exc).__name__}: {exc})") from None


def _read(path: Path, folder: Path) -> Checkpoint:
    if not path.is_dir():
        raise CheckpointError(f"no checkpoint at {path}")
    if not inside(path, folder):
        raise CheckpointError(f"{path}: leads outside the models folder {folder} (a symlink?); refusing to read it")
    cfg_path = path / CONFIG_FILE
    data = parse_json(_read_bytes(cfg_path, MAX_CONFIG_BYTES, folder), cfg_path)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{cfg_path}: not an llmlearn checkpoint")
    if data.get("version") != VERSION:
        raise CheckpointError(f"{cfg_path}: checkpoint format version {data.get('version')!r} is not supported "
                              f"(this program reads version {VERSION})")
    try:
        # validated, memory budget included (``core.budget``), before anything is allocated for it
        config = RunConfig.from_dict(data.get("run"))
        vocab = Vocabulary.from_dict(data.get("vocab"))
    except LLMLearnError as exc:
        raise CheckpointError(f"{cfg_path}: {exc}") from None
    if not VOCAB.extends(vocab) or len(vocab) != config.model.vocab_size:
        raise CheckpointError(f"{cfg_path}: the checkpoint's vocabulary differs from this program's")
    weights = data.get("weights")
    if not isinstance(weights, dict):
        raise CheckpointError(f"{cfg_path}: missing 'weights' section")
    state = check_state(data.get("state"), config, cfg_path)
    metrics = check_metrics(data.get("metrics"), cfg_path)
    saved_at, fingerprint = check_text(data, "saved_at", cfg_path), check_text(data, "dataset_fingerprint", cfg_path)
    w_path = path / WEIGHTS_FILE
    blob = _read_bytes(w_path, max_weights_bytes(config), folder)
    if len(blob) != weights.get("bytes") or sha256(blob) != weights.get("sha256"):
        raise CheckpointError(f"{w_path}: does not match the checksum in config.json (truncated, corrupted or "
                              "replaced)")
    try:
        tensors = st_load(blob)
        metadata = _safetensors_metadata(blob)
    except Exception as exc:  # any parse failure of a damaged file
        raise CheckpointError(f"{w_path}: not a valid safetensors file ({exc})") from None
    without_weights = {k: v for k, v in data.items() if k != "weights"}
    if metadata.get("config_sha256") != sha256(canonical(without_weights)):
        raise CheckpointError(f"{cfg_path}: was modified after the checkpoint was saved (its checksum no longer "
                              "matches the weights file)")
    for key, arr in tensors.items():
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise CheckpointError(f"{w_path}: tensor {key!r} holds non-finite values")
    history: list[dict[str, Any]] = []
    h_path = path / HISTORY_FILE
    recorded = data.get("history")  # written since the history got a checksum; absent in older checkpoints
    if _exists(h_path) or recorded is not None:
        h_blob = _read_bytes(h_path, MAX_HISTORY_BYTES, folder)
        if recorded is not None and (not isinstance(recorded, dict) or len(h_blob) != recorded.get("bytes")
                                     or sha256(h_blob) != recorded.get("sha256")):
            raise CheckpointError(f"{h_path}: does not match the checksum in config.json (truncated, corrupted or "
                                  "replaced)")
        history = parse_history(h_blob, h_path)
    return Checkpoint(path.name, path, config, state, metrics, tensors, fingerprint, saved_at, history,
                      shipped=inside(path, shipped_models_dir()))


def _exists(path: Path) -> bool:
    """Is there anything at ``path`` — a dangling symlink or a FIFO included (``read_regular_file`` then
    says what it is)?"""
    return os.path.lexists(path)


def _read_bytes(path: Path, max_bytes: int, folder: Path) -> bytes:
    try:
        return read_regular_file(path, max_bytes, inside=folder)
    except UnsafeFileError as exc:
        raise CheckpointError(str(exc)) from None


def _safetensors_metadata(blob: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors blob: 8-byte little-endian header size, then JSON."""
    n = int.from_bytes(blob[:8], "little")
    header = load_json(blob[8 : 8 + n])
    meta = header.get("__metadata__") or {}
    return {str(k): str(v) for k, v in meta.items()}
