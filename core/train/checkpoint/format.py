"""The checkpoint format: file names, version, checksums, and the JSON-safe form of metrics.

    config.json          format/version, run config, vocabulary, training state, metrics, and the
                         SHA-256 of the weights file and of the history file
    weights.safetensors  parameters (``model.<name>``) and optimizer state (``optimizer.<name>``); its
                         metadata holds the SHA-256 of config.json's content (without the ``weights``
                         section), so an edit to either file is detected
    history.jsonl        the metric history, one JSON object per line
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import numpy as np

from core.train.run import EDITABLE_OPTIONS, Run

FORMAT = "llmlearn-checkpoint"
VERSION = 1
CONFIG_FILE, WEIGHTS_FILE, HISTORY_FILE = "config.json", "weights.safetensors", "history.jsonl"
#: the mid-run editable settings kept on the optimizer object, saved in the training state (the lr is
#: saved as ``lr_scale``, clip_norm as ``clip_norm``)
EDITABLE = tuple(name for name, o in EDITABLE_OPTIONS.items() if o.editable == "optimizer")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def json_safe(obj: Any) -> Any:
    """Replace NaN/inf (not valid JSON) by None, recursively; NumPy scalars by Python numbers."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
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
