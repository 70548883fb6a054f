"""Checkpoints: a run's weights, optimizer state and recipe in ``<models folder>/<name>/``, as data only.

Two models folders:
    shipped   the models that come with the program (the repository's top-level ``saved_models/``,
              installed as read-only package data beside the ``core`` package): never written to
    user      the user's own runs: ``$LLMLEARN_MODELS`` if set, else ``<user data dir>/models``
              (``core.paths.user_data_dir()``, per-user, from platformdirs); every save goes here
A name is looked up in the user folder, then in the shipped one, and a shipped name is reserved: it
always means the shipped model (a user folder of that name, which the program never creates, is
ignored), and saving under a shipped name, or anywhere inside the shipped folder, is refused.

Layout of a checkpoint directory:
    config.json          format/version, run config (task, model, optimizer, seed), vocabulary, training
                         position and RNG state, metrics, and the SHA-256 of the weights file
    weights.safetensors  parameters (``model.<name>``) and optimizer state (``optimizer.<name>``); its
                         metadata holds the SHA-256 of config.json's content, so an edit to either file
                         is detected
    history.jsonl        the metric history, one JSON object per line

Safety: safetensors and JSON are parsed, never executed (no pickle). Saving writes a complete new
directory beside the old one and swaps it in with renames; a crash at any point leaves either the
previous checkpoint or the new one, and the next access finishes or rolls back the swap. Names are
plain identifiers, so nothing can be written or read outside the models directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.resources
import json
import math
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from core.atomic import atomic_write_text
from core.data.vocab import VOCAB, Vocabulary
from core.errors import CheckpointError, LLMLearnError
from core.nn.models import build_model
from core.nn.models.factory import Model
from core.paths import user_data_dir
from core.train.run import EDITABLE_OPTIONS, Run, RunConfig

FORMAT = "llmlearn-checkpoint"
VERSION = 1
CONFIG_FILE, WEIGHTS_FILE, HISTORY_FILE = "config.json", "weights.safetensors", "history.jsonl"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # whole name only: fullmatch ("$" allows a final newline)
#: the mid-run editable settings kept on the optimizer object, saved in the training state (the lr is
#: saved as ``lr_scale``, clip_norm as ``clip_norm``)
_EDITABLE = tuple(name for name, o in EDITABLE_OPTIONS.items() if o.editable == "optimizer")


def user_models_dir() -> Path:
    """Where the user's own runs are saved: ``$LLMLEARN_MODELS`` if set, else ``<user data dir>/models``."""
    env = os.environ.get("LLMLEARN_MODELS")
    return Path(env).expanduser() if env else user_data_dir() / "models"


def default_models_dir() -> Path:
    """The folder checkpoints are saved to by default: the user models folder."""
    return user_models_dir()


def shipped_models_dir() -> Path:
    """The read-only models shipped with the program: the ``saved_models`` data folder installed beside
    the ``core`` package (the repository's top-level ``saved_models/`` in a checkout or an editable
    install; ``site-packages/saved_models/`` from a wheel)."""
    return Path(str(importlib.resources.files("core"))).parent / "saved_models"


def _valid_name(name: object) -> bool:
    return isinstance(name, str) and bool(_NAME.fullmatch(name)) and ".." not in name


def _entries(base: Path) -> list[Path]:
    """The checkpoint directories in ``base`` (sorted; no hidden, staging or badly named entries)."""
    if not base.is_dir():
        return []
    return [e for e in sorted(base.iterdir()) if e.is_dir() and not e.name.startswith(".") and _NAME.fullmatch(e.name)]


def shipped_names() -> list[str]:
    """The names of the shipped models (exact spelling, sorted)."""
    return [e.name for e in _entries(shipped_models_dir())]


def is_shipped(name: str | None) -> bool:
    """Is ``name`` a model shipped with the program (read-only: never saved over)?"""
    return _valid_name(name) and name in shipped_names()


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except OSError:
        return False


def checkpoint_dir(name: str, root: str | os.PathLike[str] | None = None) -> Path:
    """The directory a save of checkpoint ``name`` goes to (``root``, default the user models folder);
    refuses names that could escape the models directory."""
    if not _valid_name(name):
        raise CheckpointError(
            f"invalid checkpoint name {name!r}: use 1–64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit (no paths)"
        )
    return (Path(root) if root is not None else user_models_dir()) / name


def find_checkpoint(name: str, root: str | os.PathLike[str] | None = None) -> Path:
    """The directory checkpoint ``name`` is read from: ``root/name`` if ``root`` is given; else the
    shipped model of that name if there is one (a shipped name is reserved), else the user's."""
    path = checkpoint_dir(name, root)
    if root is None and is_shipped(name):
        return shipped_models_dir() / name
    return path


def _refuse_shipped(name: str, final: Path) -> None:
    shipped = shipped_models_dir()
    if is_shipped(name):
        raise CheckpointError(f"{name!r} is a model shipped with the workbench and is never overwritten: "
                              "save under another name")
    if _inside(final, shipped):
        raise CheckpointError(f"{final} is inside the folder of shipped models ({shipped}), which is read-only: "
                              "save to the user models folder (unset LLMLEARN_MODELS, or point it elsewhere)")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


# -- saving -----------------------------------------------------------------------------------------
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
    _refuse_shipped(name, final)
    if not np.all(np.isfinite(run.model.params.data)):
        raise CheckpointError("the model's weights are not finite (the run diverged); refusing to save them")
    final.parent.mkdir(parents=True, exist_ok=True)
    _recover(final)
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
            "optimizer": {k: getattr(opt, k) for k in _EDITABLE if hasattr(opt, k)},
            "rng": run.model.rng.bit_generator.state,
            "edits": run.edits,
        },
        "dataset_fingerprint": dataset_fingerprint(run),
        "metrics": _json_safe(metrics or {}),
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    tensors = {f"model.{p.name}": np.ascontiguousarray(p.value) for p in run.model.params}
    tensors.update(opt.state_dict())
    blob = st_save(tensors, metadata={"format": FORMAT, "config_sha256": _sha256(_canonical(config))})
    config["weights"] = {"file": WEIGHTS_FILE, "sha256": _sha256(blob), "bytes": len(blob)}
    staging = final.parent / f".{final.name}.saving"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        _write_bytes(staging / WEIGHTS_FILE, blob)
        atomic_write_text(staging / HISTORY_FILE, "".join(json.dumps(_json_safe(h)) + "\n" for h in history or []))
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


def _recover(final: Path) -> None:
    """Finish the cleanup of an interrupted save: restore the previous checkpoint if the swap stopped
    half-way, and drop an incomplete staging directory."""
    old = final.parent / f".{final.name}.old"
    if not final.exists() and old.exists():
        os.rename(old, final)
    shutil.rmtree(final.parent / f".{final.name}.saving", ignore_errors=True)
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)


def _json_safe(obj: Any) -> Any:
    """Replace NaN/inf (not valid JSON) by None, recursively; NumPy scalars by Python numbers."""
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def dataset_fingerprint(run: Run) -> str:
    h = hashlib.sha256()
    for split in (run.dataset.train, run.dataset.val, run.dataset.test):
        h.update("\n".join(f"{e.text}={e.answer}" for e in split).encode())
        h.update(b"\x00")
    return h.hexdigest()


# -- loading ----------------------------------------------------------------------------------------
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
                if key in _EDITABLE and hasattr(run.trainer.optimizer, key):
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
    if not _inside(path, shipped_models_dir()):  # the shipped folder is read-only: nothing to recover
        with contextlib.suppress(OSError):
            _recover(path)
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
    if len(blob) != weights.get("bytes") or _sha256(blob) != weights.get("sha256"):
        raise CheckpointError(f"{w_path}: does not match the checksum in config.json (truncated, corrupted or "
                              "replaced)")
    try:
        tensors = st_load(blob)
        metadata = _safetensors_metadata(blob)
    except Exception as exc:  # any parse failure of a damaged file
        raise CheckpointError(f"{w_path}: not a valid safetensors file ({exc})") from None
    without_weights = {k: v for k, v in data.items() if k != "weights"}
    if metadata.get("config_sha256") != _sha256(_canonical(without_weights)):
        raise CheckpointError(f"{cfg_path}: was modified after the checkpoint was saved (its checksum no longer "
                              "matches the weights file)")
    for key, arr in tensors.items():
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise CheckpointError(f"{w_path}: tensor {key!r} holds non-finite values")
    history: list[dict[str, Any]] = []
    h_path = path / HISTORY_FILE
    if h_path.exists():
        try:
            history = [json.loads(line) for line in h_path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except (json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
            raise CheckpointError(f"{h_path}: unreadable metric history ({exc})") from None
    return Checkpoint(path.name, path, config, state, data.get("metrics") or {}, tensors,
                      str(data.get("dataset_fingerprint", "")), str(data.get("saved_at", "")), history,
                      shipped=_inside(path, shipped_models_dir()))


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


@dataclass(frozen=True)
class CheckpointInfo:
    name: str
    path: Path
    kind: str
    task: str
    step: int
    metrics: dict[str, Any]
    saved_at: str
    error: str | None = None
    shipped: bool = False  # a model shipped with the program (read-only)


def list_checkpoints(root: str | os.PathLike[str] | None = None) -> list[CheckpointInfo]:
    """Every checkpoint: the user's own (sorted by name), then the shipped ones (``shipped=True``), or
    only those in ``root`` if given. A user folder with a shipped model's name is left out (the name
    means the shipped model). Broken checkpoints carry ``error``."""
    shipped = shipped_models_dir()
    if root is not None:
        return _list_folder(Path(root), _inside(Path(root), shipped))
    user = user_models_dir()
    reserved = set(shipped_names())
    mine = [] if _inside(user, shipped) else [i for i in _list_folder(user, False) if i.name not in reserved]
    return mine + _list_folder(shipped, True)


def _list_folder(base: Path, shipped: bool) -> list[CheckpointInfo]:
    out = []
    for entry in _entries(base):
        try:
            ck = read_checkpoint(entry.name, base)
        except CheckpointError as exc:
            out.append(CheckpointInfo(entry.name, entry, "?", "?", 0, {}, "", str(exc), shipped))
            continue
        out.append(CheckpointInfo(ck.name, ck.path, ck.config.model.kind, ck.task_description,
                                  int(ck.state.get("step", 0)), ck.metrics, ck.saved_at, None, shipped))
    return out
