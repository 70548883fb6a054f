"""What a checkpoint's files may hold, checked before anything is built from them.

The checksums (``format``) prove the three files belong together, not that they came from this
program: anyone can write a config.json with a re-computed checksum. So every part that is used is
checked for its type and range here, and every refusal is a ``CheckpointError`` naming the file:

    file sizes         config.json ≤ 16 MiB, history.jsonl ≤ 32 MiB (both are KB in practice), and
                       weights.safetensors ≤ what the config's model can hold (``max_weights_bytes``),
                       checked on the descriptor before a byte is read (``core.safe_files``)
    JSON               strict (``core.safe_files.load_json``): no NaN/Infinity, no integer over 40
                       digits, nesting ≤ 32 levels — so no ``int()`` of 5,000 digits, no recursion limit
    state              step, epoch, batch_index: integers ≥ 0 (batch_index within an epoch); lr_scale a
                       finite number > 0; clip_norm and the optimizer settings within their options'
                       bounds; rng a state NumPy's PCG64 accepts; edits a list of valid edits
    metrics            an object of name → finite number or null
    saved_at, dataset_fingerprint   strings
    history            at most ``MAX_HISTORY_RECORDS`` lines, each a JSON object
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import CheckpointError, LLMLearnError
from core.safe_files import MiB, load_json
from core.train.checkpoint.format import EDITABLE
from core.train.run import EDITABLE_OPTIONS, RunConfig, check_option, steps_per_epoch

MAX_CONFIG_BYTES = 16 * MiB
MAX_HISTORY_BYTES = 32 * MiB
MAX_HISTORY_RECORDS = 100_000
#: a step, epoch or batch index beyond this is no real run (2**53: still exact as a float)
MAX_COUNT = 2**53


def max_weights_bytes(config: RunConfig) -> int:
    """The largest weights file ``config``'s model can have: float32 weights and at most two optimizer
    vectors of the same size (Adam's m and v), 4 bytes each, plus 4 MiB for the header and counters."""
    return 3 * 4 * config.model.parameter_count + 4 * MiB


def parse_json(raw: bytes, where: Path) -> Any:
    """``raw`` as strict JSON, or ``CheckpointError`` naming ``where``."""
    try:
        return load_json(raw)
    except ValueError as exc:
        raise CheckpointError(f"{where}: not valid JSON (truncated or edited?): {exc}") from None


def _count(state: dict[str, Any], key: str, where: Path) -> int:
    value = state.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise CheckpointError(f"{where}: training state {key!r} must be an integer ≥ 0, got {_short(value)}")
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:40]}…"


def check_state(state: Any, config: RunConfig, where: Path) -> dict[str, Any]:
    """The training state of config.json, every field checked (see the module docstring)."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{where}: missing 'state' section")
    for key in ("step", "epoch"):
        _count(state, key, where)
    batch = _count(state, "batch_index", where)
    per_epoch = steps_per_epoch(config.dataset.n_train, config.optimizer.batch_size)
    if batch >= per_epoch:
        raise CheckpointError(f"{where}: training state batch_index {batch} is past the epoch's {per_epoch} batches")
    scale = state.get("lr_scale")
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not (math.isfinite(scale) and scale > 0):
        raise CheckpointError(f"{where}: training state 'lr_scale' must be a finite number > 0, got {_short(scale)}")
    optimizer = state.get("optimizer", {})
    if not isinstance(optimizer, dict):
        raise CheckpointError(f"{where}: training state 'optimizer' must be an object")
    try:
        check_option("clip_norm", state.get("clip_norm"))
        for key, value in optimizer.items():
            if key not in EDITABLE:
                raise CheckpointError(f"unknown optimizer setting {_short(key)}")
            check_option(key, value)
        edits = state.get("edits", [])
        if not isinstance(edits, list):
            raise CheckpointError("'edits' must be a list")
        for edit in edits:
            if not (isinstance(edit, dict) and set(edit) == {"step", "field", "value"}
                    and edit["field"] in EDITABLE_OPTIONS and not isinstance(edit["step"], bool)
                    and isinstance(edit["step"], int) and 0 <= edit["step"] <= MAX_COUNT):
                raise CheckpointError(f"bad edit {_short(edit)}")
            check_option(edit["field"], edit["value"])
    except LLMLearnError as exc:
        raise CheckpointError(f"{where}: bad training state ({exc})") from None
    _check_rng(state.get("rng"), where)
    return state


def _check_rng(rng: Any, where: Path) -> None:
    """The model's random state (dropout) must be one NumPy's PCG64 takes; set on a throwaway generator."""
    if not isinstance(rng, dict) or rng.get("bit_generator") != "PCG64":
        raise CheckpointError(f"{where}: training state 'rng' is not a PCG64 random state")
    try:
        generator: Any = np.random.PCG64(0)  # Any: NumPy types the setter as its TypedDict
        generator.state = rng
    except Exception as exc:  # NumPy says TypeError, ValueError, KeyError or OverflowError
        raise CheckpointError(f"{where}: training state 'rng' is not a valid random state ({exc})") from None


def check_metrics(metrics: Any, where: Path) -> dict[str, float | int | None]:
    """The saved metrics: an object of name → finite number or null (absent = none)."""
    if metrics is None:
        return {}
    if not isinstance(metrics, dict):
        raise CheckpointError(f"{where}: 'metrics' must be an object of name → number, got {type(metrics).__name__}")
    for key, value in metrics.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or not math.isfinite(value)):
            raise CheckpointError(f"{where}: metric {_short(key)} must be a number or null, got {_short(value)}")
    return metrics


def check_text(data: dict[str, Any], key: str, where: Path) -> str:
    """A string field (``saved_at``, ``dataset_fingerprint``); absent = empty."""
    value = data.get(key, "")
    if not isinstance(value, str) or len(value) > 200:
        raise CheckpointError(f"{where}: {key!r} must be a short string, got {_short(value)}")
    return value


def parse_history(blob: bytes, where: Path) -> list[dict[str, Any]]:
    """history.jsonl: one JSON object per line, at most ``MAX_HISTORY_RECORDS`` of them."""
    try:
        lines = [line for line in blob.decode("utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError as exc:
        raise CheckpointError(f"{where}: unreadable metric history ({exc})") from None
    if len(lines) > MAX_HISTORY_RECORDS:
        raise CheckpointError(f"{where}: {len(lines):,} records, more than the {MAX_HISTORY_RECORDS:,} a history "
                              "can have")
    records = []
    for number, line in enumerate(lines, 1):
        try:
            record = load_json(line)
        except ValueError as exc:
            raise CheckpointError(f"{where}: unreadable metric history, line {number} ({exc})") from None
        if not isinstance(record, dict):
            raise CheckpointError(f"{where}: line {number} of the metric history is not a JSON object")
        records.append(record)
    return records
