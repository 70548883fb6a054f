"""Reading a checkpoint back: every file parsed as data, every checksum verified, any problem one error."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load as st_load

from core.data.vocab import VOCAB, Vocabulary
from core.errors import CheckpointError, LLMLearnError
from core.nn.models import build_model
from core.nn.models.factory import Model
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
from core.train.checkpoint.writer import recover
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
        """The model with the saved weights (evaluation mode)."""
        model = build_model(self.config.model, seed=self.config.seed)
        try:
            model.params.load_state_dict({k[6:]: v for k, v in self.tensors.items() if k.startswith("model.")})
        except LLMLearnError as exc:
            raise CheckpointError(f"{self.path}: {exc}") from None
        model.eval()
        return model

    def build_run(self) -> tuple[Run, list[str]]:
        """The run, restored to continue exactly where it was saved; plus warnings (e.g. the dataset
        regenerated from the config differs from the one trained on)."""
        run = Run(self.config)
        warnings = []
        if dataset_fingerprint(run) != self.fingerprint:
            warnings.append("the dataset regenerated from the saved config differs from the one this model was "
                            "trained on (different generator version?); training continues on the new one")
        try:
            run.model.params.load_state_dict(
                {k[6:]: v for k, v in self.tensors.items() if k.startswith("model.")})
            run.trainer.optimizer.load_state_dict(self.tensors)
            s = self.state
            run.epoch, run.batch_index = int(s["epoch"]), int(s["batch_index"])
            run.trainer.lr_scale = float(s["lr_scale"])
            run.trainer.clip_norm = float(s["clip_norm"])
            for key, value in s.get("optimizer", {}).items():
                if key in EDITABLE and hasattr(run.trainer.optimizer, key):
                    setattr(run.trainer.optimizer, key, float(value))
            run.model.rng.bit_generator.state = s["rng"]
            run.edits = list(s.get("edits", []))
        except LLMLearnError as exc:
            raise CheckpointError(f"{self.path}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{self.path}/{CONFIG_FILE}: bad training state ({exc})") from None
        if run.step != int(self.state["step"]):
            raise CheckpointError(f"{self.path}: the step count in the weights does not match config.json")
        run.model.train()
        return run, warnings


def read_checkpoint(name: str, root: str | os.PathLike[str] | None = None) -> Checkpoint:
    """Read and verify checkpoint ``name`` (see ``find_checkpoint`` for where it is looked up). Any
    problem raises ``CheckpointError`` naming the file."""
    path = find_checkpoint(name, root)
    if not inside(path, shipped_models_dir()):  # the shipped folder is read-only: nothing to recover
        with contextlib.suppress(OSError):
            recover(path)
    return read_checkpoint_dir(path)


def read_checkpoint_dir(path: Path) -> Checkpoint:
    if not path.is_dir():
        raise CheckpointError(f"no checkpoint at {path}")
    cfg_path = path / CONFIG_FILE
    raw = _read_bytes(cfg_path)
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{cfg_path}: not valid JSON (truncated or edited?): {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{cfg_path}: not an llmlearn checkpoint")
    if data.get("version") != VERSION:
        raise CheckpointError(f"{cfg_path}: checkpoint format version {data.get('version')!r} is not supported "
                              f"(this program reads version {VERSION})")
    try:
        config = RunConfig.from_dict(data.get("run"))
        vocab = Vocabulary.from_dict(data.get("vocab"))
    except LLMLearnError as exc:
        raise CheckpointError(f"{cfg_path}: {exc}") from None
    if vocab != VOCAB:
        raise CheckpointError(f"{cfg_path}: the checkpoint's vocabulary differs from this program's")
    weights = data.get("weights")
    state = data.get("state")
    if not isinstance(weights, dict) or not isinstance(state, dict):
        raise CheckpointError(f"{cfg_path}: missing 'weights' or 'state' section")
    w_path = path / WEIGHTS_FILE
    blob = _read_bytes(w_path)
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
    if h_path.exists() or recorded is not None:
        h_blob = _read_bytes(h_path)
        if recorded is not None and (not isinstance(recorded, dict) or len(h_blob) != recorded.get("bytes")
                                     or sha256(h_blob) != recorded.get("sha256")):
            raise CheckpointError(f"{h_path}: does not match the checksum in config.json (truncated, corrupted or "
                                  "replaced)")
        try:
            history = [json.loads(line) for line in h_blob.decode("utf-8").splitlines() if line.strip()]
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CheckpointError(f"{h_path}: unreadable metric history ({exc})") from None
    return Checkpoint(path.name, path, config, state, data.get("metrics") or {}, tensors,
                      str(data.get("dataset_fingerprint", "")), str(data.get("saved_at", "")), history,
                      shipped=inside(path, shipped_models_dir()))


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _safetensors_metadata(blob: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors blob: 8-byte little-endian header size, then JSON."""
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + n])
    meta = header.get("__metadata__") or {}
    return {str(k): str(v) for k, v in meta.items()}
