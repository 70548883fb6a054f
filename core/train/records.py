"""Run records: every run trained from the app or the CLI leaves a folder in the user's data directory,

    <user data dir>/runs/<id>/run.json       what the run is: config, source, state, steps, best
                                             validation accuracy, time, edits, checkpoints saved
    <user data dir>/runs/<id>/metrics.jsonl  one JSON object per line: a training step's metrics
                                             (``{"step", "train/loss", "train/accuracy", "lr", "grad_norm"}``)
                                             or an evaluation's (``{"step", "val/loss", …}``)
    <user data dir>/runs/<id>/snapshots/     the weights at log-spaced steps (``core.train.snapshots``)

so runs can be listed, compared and charted after the app is closed (``workbench runs``, the Runs view).

Why two files: the metrics only ever grow, so they are *appended* — a crash mid-write leaves at most one
cut-off last line, which the reader skips — while ``run.json`` changes as the run goes on and is
rewritten *atomically* (``core.atomic``), so it is always the old or the new version, never half of one.
The recorder is called by the training worker between steps and writes at most about once a second
(and at every state change and checkpoint): a run at thousands of steps per second is not
slowed by file I/O. A run that took no step leaves no record (opening a model to look at it is not a
run). Long runs keep every step up to ``FULL_STEPS`` lines, then every 2nd, 4th … step (the stride
doubles), so a record stays a few MB whatever the run's length.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.atomic import atomic_write_text
from core.errors import LLMLearnError
from core.nn.models.factory import Model
from core.paths import user_data_dir
from core.safe_files import MiB, UnsafeFileError, read_regular_file
from core.train.run import Run
from core.train.snapshots import DEFAULT_BUDGET_BYTES, SnapshotKeeper

FORMAT = "llmlearn-run"
VERSION = 1
RUN_FILE = "run.json"
METRICS_FILE = "metrics.jsonl"
FLUSH_SECONDS = 1.0
FULL_STEPS = 100_000  # step lines written at stride 1; then the stride doubles each time as many more are written
MAX_RUN_JSON_BYTES = 4 * MiB
#: states a record keeps when the session is then closed
ENDED = frozenset({"finished", "diverged", "error"})
MAX_METRICS_BYTES = 256 * MiB


class RunRecordError(LLMLearnError):
    """A run record that cannot be read (missing, damaged, not a record)."""


def runs_dir() -> Path:
    """Where run records live: ``<user data dir>/runs``."""
    return user_data_dir() / "runs"


def new_run_id(now: float | None = None) -> str:
    """``20261203-170512-3f9a``: sortable by start time, unique by the random tail."""
    stamp = datetime.fromtimestamp(time.time() if now is None else now, UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(2)}"


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


class RunRecorder:
    """Writes one run's record as it trains. Every method is called on the training worker's thread.

    ``config`` is the run's ``RunConfig.to_dict()``; ``source`` says who trained it ("app", "cli");
    ``resumed_from`` names the checkpoint it continued, if any.
    """

    def __init__(self, config: Mapping[str, Any], source: str, root: Path | None = None,
                 resumed_from: str | None = None, start_step: int = 0,
                 summary: Mapping[str, Any] | None = None, model: Model | None = None,
                 snapshot_budget: int = DEFAULT_BUDGET_BYTES) -> None:
        self.root = runs_dir() if root is None else Path(root)
        self.id = new_run_id()
        self.dir = self.root / self.id
        self.meta: dict[str, Any] = {
            "format": FORMAT, "version": VERSION, "id": self.id, "source": source,
            "started_at": None, "updated_at": None, "status": "running", "pid": os.getpid(),
            "config": dict(config), **dict(summary or {}),
            "resumed_from": resumed_from, "start_step": start_step, "steps": start_step,
            "best_val_accuracy": None, "best_step": None, "last_val_accuracy": None, "elapsed_s": 0.0,
            "edits": [], "checkpoints": [],
        }
        self._lines: list[str] = []
        self._next_flush = 0.0
        self._stride = 1
        self._step_lines = 0
        self._started = 0.0
        self._running_since: float | None = None
        self.failed: str | None = None  # why recording stopped (a full disk must not stop the training)
        # time travel (``core.train.snapshots``): the weights at log-spaced steps, the first being the
        # weights the run starts from (copied now, written only if the run takes a step)
        self._model = model
        self._keeper = SnapshotKeeper(self.dir, snapshot_budget, start_step) if model is not None else None
        self._initial = model.params.state_dict() if model is not None else None

    @classmethod
    def for_run(cls, run: Run, source: str, resumed_from: str | None = None, root: Path | None = None) -> RunRecorder:
        """The recorder of ``run``, with the one-line summaries the runs table shows."""
        c = run.config
        n = run.model.num_parameters
        summary = {
            "task": c.dataset.task.describe(),
            "model": f"{c.model.kind} {c.model.n_layers}×{c.model.d_model} · "
                     + (f"{n / 1000:.0f}K" if n < 10**6 else f"{n / 10**6:.1f}M") + " params",
            "optimizer": f"{c.optimizer.name} lr {c.optimizer.lr:g}"
                         + (f" wd {c.optimizer.weight_decay:g}" if c.optimizer.weight_decay else "")
                         + f" batch {c.optimizer.batch_size}",
        }
        return cls(c.to_dict(), source, root, resumed_from, run.step, summary, model=run.model)

    @property
    def started(self) -> bool:
        return self._started > 0.0

    # -- what happens in the run ---------------------------------------------------------------------
    def step(self, step: int, values: Mapping[str, float]) -> None:
        """A training step's metrics (kept at the current stride)."""
        if not self.started:
            self._start()
        self.meta["steps"] = step
        keeper = self._keeper
        if keeper is not None and self._model is not None and step >= keeper.due and self.failed is None:
            try:
                keeper.maybe_take(step, self._model.params.state_dict())
            except OSError as exc:
                self.failed = f"cannot write a snapshot in {self.dir}: {exc}"
        if step % self._stride == 0:
            self._add({"step": step, **{k: _finite(v) for k, v in values.items()}})
            self._step_lines += 1
            if self._step_lines >= FULL_STEPS * self._stride:
                self._stride *= 2
        self.flush()

    def evaluation(self, step: int, values: Mapping[str, float]) -> None:
        """An evaluation's metrics (always kept); the best validation accuracy is tracked."""
        if not self.started:
            self._start()
        self._add({"step": step, **{k: _finite(v) for k, v in values.items()}})
        acc = values.get("val/accuracy")
        if acc is not None and math.isfinite(acc):
            self.meta["last_val_accuracy"] = acc
            best = self.meta["best_val_accuracy"]
            if best is None or acc > best:
                self.meta["best_val_accuracy"], self.meta["best_step"] = acc, step
        self.flush()  # with the next once-a-second write: a run evaluating every few steps must not fsync each time

    def edit(self, step: int, name: str, value: float) -> None:
        self.meta["edits"].append({"step": step, "field": name, "value": value})
        if self.started:
            self.flush(force=True)

    def checkpoint(self, step: int, name: str, path: str, metrics: Mapping[str, Any] | None = None) -> None:
        """A checkpoint of the run was saved; its test accuracy, if the metrics have one, is recorded."""
        self.meta["checkpoints"].append({"step": step, "name": name, "path": path})
        test = (metrics or {}).get("test_accuracy")
        if isinstance(test, float) and math.isfinite(test):
            self.meta["test_accuracy"] = test
        if self.started:
            self.flush(force=True)

    def state(self, status: str) -> None:
        """The session's state: "running" starts the clock, anything else stops it and is written."""
        now = time.monotonic()
        if status == "running":
            self._running_since = self._running_since or now
        else:
            self._stop_clock(now)
        if status == "stopped" and self.meta["status"] in ENDED:
            return  # the worker exiting after the run ended does not change how it ended
        if self.started and status != "running":
            self._snapshot_now()  # where it paused or ended: a step time travel can always go to
        if self.started:
            self.meta["status"] = status
            self.flush(force=True)

    def close(self, status: str = "stopped") -> None:
        """The session ended (the app closed it, the CLI finished): the record's final state."""
        self._stop_clock(time.monotonic())
        if self.started:
            self.meta["status"] = status if self.meta["status"] == "running" else self.meta["status"]
            self.flush(force=True)

    # -- writing ----------------------------------------------------------------------------------------
    def _start(self) -> None:
        self._started = time.time()
        self.meta["started_at"] = _iso(self._started)
        self._running_since = self._running_since or time.monotonic()
        if self._keeper is not None and self._initial is not None:
            try:
                self._keeper.maybe_take(self.meta["start_step"], self._initial)
            except OSError as exc:
                self.failed = f"cannot write a snapshot in {self.dir}: {exc}"
            self._initial = None

    def _snapshot_now(self) -> None:
        keeper, model = self._keeper, self._model
        step = self.meta["steps"]
        if keeper is None or model is None or self.failed is not None or (keeper.kept and keeper.kept[-1] >= step):
            return
        keeper.due = min(keeper.due, step)
        try:
            keeper.maybe_take(step, model.params.state_dict())
        except OSError as exc:
            self.failed = f"cannot write a snapshot in {self.dir}: {exc}"

    def _stop_clock(self, now: float) -> None:
        if self._running_since is not None:
            self.meta["elapsed_s"] = round(self.meta["elapsed_s"] + now - self._running_since, 3)
            self._running_since = None

    def _add(self, record: dict[str, Any]) -> None:
        self._lines.append(json.dumps(record, separators=(",", ":")))

    def flush(self, force: bool = False) -> None:
        """Append the buffered metric lines and rewrite run.json — at most once a second unless ``force``."""
        now = time.monotonic()
        if self.failed is not None or not self.started or (not force and now < self._next_flush):
            return
        self._next_flush = now + FLUSH_SECONDS
        meta = dict(self.meta)
        meta["updated_at"] = _iso(time.time())
        if self._running_since is not None:
            meta["elapsed_s"] = round(meta["elapsed_s"] + now - self._running_since, 3)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            if self._lines:
                with open(self.dir / METRICS_FILE, "a", encoding="utf-8", newline="\n") as f:
                    f.write("\n".join(self._lines) + "\n")
                self._lines.clear()
            # atomic, not fsynced: an fsync every second could stall a training step (power cuts may lose
            # the last second of a record; a crash of the process never leaves half a file)
            atomic_write_text(self.dir / RUN_FILE, json.dumps(meta, indent=1) + "\n", durable=False)
        except OSError as exc:
            self.failed = f"cannot write the run record in {self.dir}: {exc}"


# -- reading ---------------------------------------------------------------------------------------------
@dataclass
class RunSummary:
    """A run as ``run.json`` tells it (``meta``), with where it is and whether it is still going."""

    id: str
    dir: Path
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """The recorded state; "interrupted" for a run recorded as running whose process is gone (a crash)."""
        status = str(self.meta.get("status", "?"))
        if status == "running" and not _process_alive(self.meta.get("pid")):
            return "interrupted"
        return status

    @property
    def config(self) -> dict[str, Any]:
        cfg = self.meta.get("config")
        return cfg if isinstance(cfg, dict) else {}

    def to_dict(self) -> dict[str, Any]:
        return {**self.meta, "status": self.status, "dir": str(self.dir)}


def _process_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but not ours (PermissionError), or no way to tell: assume alive
        return True
    return True


def read_run(path: Path) -> RunSummary:
    """The record in folder ``path``; RunRecordError if its run.json is missing or damaged."""
    try:
        data = json.loads(read_regular_file(path / RUN_FILE, MAX_RUN_JSON_BYTES))
    except (OSError, UnsafeFileError, ValueError) as exc:
        raise RunRecordError(f"{path / RUN_FILE}: cannot read the run record ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("id"), str):
        raise RunRecordError(f"{path / RUN_FILE}: not a run record")
    return RunSummary(data["id"], path, data)


def list_runs(root: Path | None = None) -> tuple[list[RunSummary], list[str]]:
    """Every readable record under ``root`` (newest first) and a warning for each one that is not."""
    root = runs_dir() if root is None else Path(root)
    runs: list[RunSummary] = []
    warnings: list[str] = []
    if not root.is_dir():
        return runs, warnings
    for entry in sorted(root.iterdir(), reverse=True):
        if not entry.is_dir() or entry.name.startswith("."):
            continue
        try:
            runs.append(read_run(entry))
        except RunRecordError as exc:
            warnings.append(str(exc))
    return runs, warnings


def find_run(run_id: str, root: Path | None = None) -> RunSummary:
    """The record whose id is ``run_id`` or starts with it (a unique prefix is enough)."""
    runs, _ = list_runs(root)
    matches = [r for r in runs if r.id == run_id] or [r for r in runs if r.id.startswith(run_id)]
    if len(matches) != 1:
        known = ", ".join(r.id for r in runs[:5]) or "none yet"
        what = "no run" if not matches else f"{len(matches)} runs"
        raise RunRecordError(f"{what} with id {run_id!r} (recent: {known})")
    return matches[0]


def metric_lines(path: Path) -> Iterator[dict[str, Any]]:
    """The metric records of the run in folder ``path``, in order. A line that is not a complete JSON
    object — the last one, cut off by a crash mid-write — is skipped."""
    try:
        text = read_regular_file(path / METRICS_FILE, MAX_METRICS_BYTES)
    except FileNotFoundError:
        return
    except (OSError, UnsafeFileError) as exc:
        raise RunRecordError(f"{path / METRICS_FILE}: cannot read the metrics ({exc})") from None
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("step"), int):
            yield record


def read_series(path: Path) -> dict[str, tuple[list[int], list[float]]]:
    """Every metric of the run in folder ``path`` as (steps, values), at full recorded resolution."""
    out: dict[str, tuple[list[int], list[float]]] = {}
    for record in metric_lines(path):
        step = record["step"]
        for name, value in record.items():
            if name == "step" or not isinstance(value, int | float) or isinstance(value, bool):
                continue
            steps, values = out.setdefault(name, ([], []))
            steps.append(step)
            values.append(float(value))
    return out
