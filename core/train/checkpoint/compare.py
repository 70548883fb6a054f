"""May a save replace the checkpoint already at its name? One rule, shared by ``workbench train`` and the app.

A save replaces an existing checkpoint unless that checkpoint is *better*, or this run *diverged*:

* **better** — the existing one has a higher validation accuracy; when either side lacks an accuracy,
  a lower validation loss. Equal is not better. A run with no validation metric yet (an early partial
  save) never replaces one that has a metric; a checkpoint that records none (saved by a script) can
  always be replaced. Against an *earlier state of this same run* — the checkpoint a resume started
  from, or this run's own earlier save — "better" needs a margin (``ACCURACY_MARGIN``, ``LOSS_MARGIN``):
  a resume that made progress is not turned away because its validation accuracy wobbled by an example.
* **diverged** — a non-finite loss stopped it (a ``DivergenceEvent``), or its training loss ended far
  above its best (``loss_diverged``: finite weights, but worse than useless). A diverged run never
  replaces an existing readable checkpoint, of this run or another.
* an existing checkpoint that cannot be read is never replaced either (it may be a newer format).

A save that may not replace goes to a free sibling name (``K-2``, ``K-3`` …) instead, or the user says
``--force`` / "yes": the run is never lost, and a better checkpoint is never silently replaced.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from core.errors import LLMLearnError
from core.train.checkpoint.format import CONFIG_FILE
from core.train.checkpoint.listing import CheckpointInfo
from core.train.checkpoint.locations import checkpoint_dir, is_shipped, valid_name
from core.train.checkpoint.reader import Checkpoint, read_checkpoint

#: against an earlier state of the same run, it is better only by more than this much val accuracy …
ACCURACY_MARGIN = 0.02
#: … or by a val loss more than this fraction lower
LOSS_MARGIN = 0.10
#: a finite run diverged when its smoothed final training loss is over this many times its best …
DIVERGENCE_FACTOR = 2.0
#: … and over its best by more than this many nats (a loss near zero doubles by noise alone)
DIVERGENCE_GAP = 0.5
MIN_WINDOW = 5  # loss points averaged, at least; else a tenth of the recorded points

Kind = Literal["new", "not-worse", "no-metric", "worse", "diverged", "unreadable"]
Existing = CheckpointInfo | Checkpoint | None


@dataclass(frozen=True)
class Verdict:
    """Whether a save may replace the checkpoint at its name, and why (one sentence for people)."""

    replace: bool
    kind: Kind
    reason: str


def loss_diverged(losses: Sequence[float]) -> str | None:
    """Why a run whose training losses were ``losses`` counts as diverged, or None. The losses are
    averaged over a window (a tenth of them, at least ``MIN_WINDOW``), so one noisy batch decides
    nothing; the best is the lowest such mean, or the first loss (the untrained model's, when the
    history is not thinned yet) if lower — a run that blew up at once never had a good window."""
    values = [float(x) for x in losses if math.isfinite(x)]
    window = max(MIN_WINDOW, len(values) // 10)
    if len(values) < 2 * window:
        return None
    sums = [0.0]
    for v in values:
        sums.append(sums[-1] + v)
    means = [(sums[i + window] - sums[i]) / window for i in range(len(values) - window + 1)]
    best, final = min(min(means), values[0]), means[-1]
    if final > DIVERGENCE_FACTOR * best and final - best > DIVERGENCE_GAP:
        return f"its training loss ended at {final:.3g}, far above its best ({best:.3g})"
    return None


def _metric(metrics: Mapping[str, Any], key: str) -> float | None:
    value = metrics.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def replacement_verdict(new_metrics: Mapping[str, Any], diverged: str | bool | None, existing: Existing,
                        name: str = "", same_run: bool = False) -> Verdict:
    """May a run with ``new_metrics`` (``val_accuracy``, ``val_loss``) be saved over ``existing``?

    ``diverged`` is why the run diverged (or True), None/False if it did not; ``same_run`` says the
    existing checkpoint is an earlier state of this run (then "better" needs a margin)."""
    label = name or (existing.name if existing is not None else "the checkpoint")
    if existing is None:
        return Verdict(True, "new", "")
    error = existing.error if isinstance(existing, CheckpointInfo) else None
    if error:
        return Verdict(False, "unreadable", f"{label} cannot be read ({error}), so it is kept")
    if diverged:
        why = diverged if isinstance(diverged, str) else "it diverged"
        return Verdict(False, "diverged", f"this run diverged ({why}); {label} is kept")
    old_acc, new_acc = _metric(existing.metrics, "val_accuracy"), _metric(new_metrics, "val_accuracy")
    old_loss, new_loss = _metric(existing.metrics, "val_loss"), _metric(new_metrics, "val_loss")
    margin = ACCURACY_MARGIN if same_run else 0.0
    if old_acc is not None and new_acc is not None:
        if old_acc > new_acc + margin:
            return Verdict(False, "worse", f"{label} has val accuracy {old_acc:.1%}; this run has {new_acc:.1%}")
        return Verdict(True, "not-worse", f"val accuracy {new_acc:.1%} (was {old_acc:.1%})")
    if old_loss is not None and new_loss is not None:
        if new_loss > old_loss * (1 + (LOSS_MARGIN if same_run else 0.0)):
            return Verdict(False, "worse", f"{label} has val loss {old_loss:.4g}; this run has {new_loss:.4g}")
        return Verdict(True, "not-worse", f"val loss {new_loss:.4g} (was {old_loss:.4g})")
    if old_acc is not None or old_loss is not None:
        shown = f"val accuracy {old_acc:.1%}" if old_acc is not None else f"val loss {old_loss:.4g}"
        return Verdict(False, "worse", f"{label} has {shown}; this run has not been validated yet")
    return Verdict(True, "no-metric", f"{label} records no validation metric to compare with")


def checkpoint_identity(path: str | os.PathLike[str]) -> str | None:
    """A fingerprint of one save of a checkpoint (its config.json, which holds the weights' and the
    history's checksums and the time), or None if there is none: tells "still the checkpoint this run
    wrote or started from" from "something else saved here since"."""
    try:
        with open(os.path.join(path, CONFIG_FILE), "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


def free_name(name: str, root: str | os.PathLike[str] | None = None) -> str:
    """The first of ``name-2``, ``name-3`` … that is a valid name, not shipped, and not in use."""
    for i in range(2, 10_000):
        suffix = f"-{i}"
        candidate = name[: 64 - len(suffix)] + suffix
        if not valid_name(candidate) or is_shipped(candidate):
            continue
        final = checkpoint_dir(candidate, root)
        if not any(p.exists() for p in (final, final.parent / f".{candidate}.saving",
                                         final.parent / f".{candidate}.old")):
            return candidate
    raise ValueError(f"no free name left beside {name!r}")  # 10,000 siblings: not a real situation


@dataclass(frozen=True)
class Decision:
    """Where a save of this run may go: ``name`` if ``verdict.replace``, else ``alternative`` (a free
    sibling, or this run's own earlier sibling save that it is not worse than)."""

    name: str
    verdict: Verdict
    alternative: str


class SaveGuard:
    """The memory of one run's saves, so that each save is judged against the checkpoint *as it was
    when this run started* rather than against the run's own earlier saves:

    * the checkpoint the run was resumed from is an earlier state of it (compared with the margin);
    * a checkpoint this run wrote itself is replaced by the run's later state unless the run diverged
      — but judged against what that name held before the run's first save there (``displaced``), so
      a run that got better, saved over K, then fell back below K's old accuracy stops replacing it;
    * a save refused at its name keeps going to the same sibling."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = root
        self.origin: set[str] = set()  # identities of the checkpoint(s) this run was resumed from
        self.own: set[str] = set()  # identities of the saves this run made
        # name → what it held before this run saved there (None: nothing), and whether that was the origin
        self.displaced: dict[str, tuple[CheckpointInfo | None, bool]] = {}
        self.siblings: dict[str, str] = {}  # name → the sibling this run's refused saves went to
        self._before: dict[str, tuple[CheckpointInfo | None, bool]] = {}  # the same, seen by the last verdict

    def started_from(self, path: str | os.PathLike[str]) -> None:
        """The run was resumed (or loaded) from the checkpoint at ``path``."""
        identity = checkpoint_identity(path)
        if identity is not None:
            self.origin.add(identity)

    def verdict_at(self, name: str, metrics: Mapping[str, Any], diverged: str | bool | None) -> Verdict:
        """May this run (with ``metrics``) be saved over what ``name`` holds now?"""
        path = checkpoint_dir(name, self.root)
        existing: CheckpointInfo | None = None
        if path.exists():
            try:
                ck = read_checkpoint(name, self.root)
                existing = CheckpointInfo(name, ck.path, ck.config.model.kind, "", int(ck.state.get("step", 0)),
                                          ck.metrics, ck.saved_at)
            except (LLMLearnError, OSError) as exc:  # any damage: kept, and said why
                existing = CheckpointInfo(name, path, "?", "?", 0, {}, "", str(exc))
        identity = checkpoint_identity(path) if existing is not None and not existing.error else None
        if identity is None or identity not in self.own:  # not this run's own save: judged as it is
            origin = identity in self.origin
            self._before[name] = (existing, origin)
            return replacement_verdict(metrics, diverged, existing, name, same_run=origin)
        self._before.pop(name, None)
        if diverged:
            return replacement_verdict(metrics, diverged, existing, f"{name} (an earlier save of this run)")
        base, origin = self.displaced.get(name, (None, False))
        if base is None:
            return Verdict(True, "not-worse", f"{name} is an earlier save of this run")
        return replacement_verdict(metrics, None, base, f"{name} (before this run saved over it)", same_run=origin)

    def decide(self, name: str, metrics: Mapping[str, Any], diverged: str | bool | None) -> Decision:
        """The verdict for saving this run as ``name`` and where it goes instead if refused."""
        verdict = self.verdict_at(name, metrics, diverged)
        sibling = self.siblings.get(name)
        if sibling is not None and not self.verdict_at(sibling, metrics, diverged).replace:
            sibling = None  # this run's earlier sibling save is kept too: one more sibling
        return Decision(name, verdict, sibling or free_name(name, self.root))

    def went_to(self, name: str, target: str, path: str | os.PathLike[str]) -> None:
        """A save asked for ``name`` was written to ``target`` (at ``path``)."""
        if target in self._before:  # it replaced something not its own (or took a free name)
            self.displaced[target] = self._before.pop(target)
        identity = checkpoint_identity(path)
        if identity is not None:
            self.own.add(identity)
        if target != name:
            self.siblings[name] = target
