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
                         position and RNG state, metrics, and the SHA-256 of the weights and history files
    weights.safetensors  parameters (``model.<name>``) and optimizer state (``optimizer.<name>``); its
                         metadata holds the SHA-256 of config.json's content, so an edit to either file
                         is detected
    history.jsonl        the metric history, one JSON object per line

Safety: safetensors and JSON are parsed, never executed (no pickle), through bounded reads of regular
files inside the models folder (``core.safe_files``; the fields are checked in ``contents``). Saving
writes a complete new directory in a staging folder of its own, under a lock per name
(``core.file_lock``), and swaps it in with renames, fsyncing files and folders; a crash at any point
leaves either the previous checkpoint or the new one, and the next save (holding the lock) finishes or
rolls back the swap — a reader never deletes or waits (``writer.read_consistently``). Names are plain
identifiers, so nothing can be written or read outside the models directory.
"""

from core.train.checkpoint.format import CONFIG_FILE, FORMAT, HISTORY_FILE, VERSION, WEIGHTS_FILE, dataset_fingerprint
from core.train.checkpoint.listing import CheckpointInfo, list_checkpoints
from core.train.checkpoint.locations import (
    checkpoint_dir,
    default_models_dir,
    find_checkpoint,
    is_shipped,
    shipped_models_dir,
    shipped_names,
    user_models_dir,
)
from core.train.checkpoint.reader import Checkpoint, read_checkpoint, read_checkpoint_dir
from core.train.checkpoint.writer import save_checkpoint

__all__ = [
    "CONFIG_FILE", "FORMAT", "HISTORY_FILE", "VERSION", "WEIGHTS_FILE", "Checkpoint", "CheckpointInfo",
    "checkpoint_dir", "dataset_fingerprint", "default_models_dir", "find_checkpoint", "is_shipped",
    "list_checkpoints", "read_checkpoint", "read_checkpoint_dir", "save_checkpoint", "shipped_models_dir",
    "shipped_names", "user_models_dir",
]
