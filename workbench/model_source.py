"""Where the Inference and Inspector panes get a model to probe: the live run, or a saved checkpoint.

A pane never reads the training run's model directly. It asks a ``ModelSource`` for a *copy*:

* ``SessionModelSource`` copies the live run's weights (``TrainingSession.clone_model``, taken under the
  session lock) — and only while the run is not training (idle, paused, finished or stopped). While it
  runs, ``live()`` returns the reason instead ("training is running — pause it …"), so a probe can never
  mix the weights of two steps, and never slows the training thread down with forwards of its own.
* ``CheckpointModelSource`` reads a checkpoint from ``saved_models/`` once (verifying its checksums) and
  builds a fresh model from it for each call.

Both are called from thread workers (reading a checkpoint or waiting for the session lock must not
block the event loop). ``live()`` never raises for a problem a user can cause: it returns a one-line
reason string instead. ``evaluation_split(name)`` gives the encoded split an evaluation report runs on
(the live run's own, or the checkpoint's regenerated from its seed: a held-out split without the
training split, ``core.train.held_out``).

``ModelChoice`` is what a probing pane remembers of the model chooser: the chosen value (``"live"`` or
``"ck:NAME"``) and the source it names; ``choice_options`` lists what the chooser offers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import NamedTuple, Protocol, runtime_checkable

from core.data.batching import EncodedSplit, encode_examples
from core.data.dataset import Dataset, generate_dataset
from core.data.task import TaskConfig
from core.errors import LLMLearnError
from core.nn.models.factory import Model, copy_model
from core.train.checkpoint import Checkpoint, CheckpointInfo, read_checkpoint
from core.train.held_out import HELD_OUT, held_out_split
from core.train.session import TrainingSession

LIVE = "live"  # the picker value of the live run; checkpoints are "ck:NAME"
CHECKPOINT_PREFIX = "ck:"
SPLITS = ("test", "val", "train")

NO_RUN = "no training run yet — start one in the Training pane (F3, F6), or pick a saved model"
RUNNING = "training is running — pause it (F6) to probe the live weights, or pick a saved model"


class ProbeModel(NamedTuple):
    """A model copy the caller owns (its forwards disturb nothing else), the task it answers, a label."""

    model: Model
    task: TaskConfig
    label: str

    @property
    def kind(self) -> str:
        return self.model.config.kind


@runtime_checkable
class ModelSource(Protocol):
    """What a probing pane asks for a model. Both methods may block: call them from a thread worker."""

    def live(self) -> ProbeModel | str:
        """A copy of the model to probe, or the reason there is none right now."""
        ...

    def evaluation_split(self, name: str = "test") -> EncodedSplit | str:
        """The encoded ``name`` split ("train", "val" or "test") to evaluate on, or why there is none."""
        ...


class SessionModelSource:
    """The live run of whatever session ``get_session()`` returns (the app's current one, or None)."""

    def __init__(self, get_session: Callable[[], TrainingSession | None]) -> None:
        self.get_session = get_session

    def session(self) -> TrainingSession | None:
        try:
            return self.get_session()
        except Exception:  # a getter of a half-built app: treat as "no run"
            return None

    def unavailable(self) -> str | None:
        """Why the live weights cannot be probed now (None when they can)."""
        s = self.session()
        if s is None:
            return NO_RUN
        if s.state == "running":
            return RUNNING
        return None

    def live(self) -> ProbeModel | str:
        reason = self.unavailable()
        if reason:
            return reason
        s = self.session()
        assert s is not None
        # A copy taken under the session lock: consistent even if the run resumed a moment ago.
        model = s.clone_model()
        return ProbeModel(model, s.run.config.dataset.task, f"live run · step {s.run.step:,} · {s.state}")

    def evaluation_split(self, name: str = "test") -> EncodedSplit | str:
        s = self.session()
        if s is None:
            return NO_RUN
        split = {"train": s.run.train_split, "val": s.run.val_split, "test": s.run.test_split}.get(name)
        return split if split is not None else f"the live run has no {name} split"


class CheckpointModelSource:
    """Checkpoint ``name`` (read once, verified; every ``live()`` builds a fresh model from it)."""

    def __init__(self, name: str, root: str | None = None) -> None:
        self.name = name
        self.root = root
        self._lock = threading.Lock()
        self._checkpoint: Checkpoint | None = None
        self._dataset: Dataset | None = None

    def checkpoint(self) -> Checkpoint:
        """The checkpoint, read on first use; raises ``LLMLearnError`` (e.g. ``CheckpointError``)."""
        with self._lock:
            if self._checkpoint is None:
                self._checkpoint = read_checkpoint(self.name, self.root)
            return self._checkpoint

    def live(self) -> ProbeModel | str:
        try:
            ck = self.checkpoint()
            model = ck.build_model()
        except LLMLearnError as exc:
            return f"cannot load {self.name}: {exc}"
        except Exception as exc:  # core turns every file problem into CheckpointError; never leave a pane loading
            return f"cannot load {self.name}: {type(exc).__name__}: {exc}"
        return ProbeModel(model, ck.config.dataset.task, f"{self.name} · step {int(ck.state.get('step', 0)):,}")

    def evaluation_split(self, name: str = "test") -> EncodedSplit | str:
        if name not in SPLITS:
            return f"unknown split {name!r} (train, val or test)"
        try:
            ck = self.checkpoint()
            if name in HELD_OUT:  # without the training split: a second, not ~15 s for the 0–99 decoder
                return held_out_split(ck.config, name)
            with self._lock:
                if self._dataset is None:
                    self._dataset = generate_dataset(ck.config.dataset)  # same seed → the same data
                dataset = self._dataset
            examples = dataset.split(name)
            if not examples:
                return f"{self.name} has no {name} split"
            return encode_examples(examples, ck.config.dataset.task, ck.config.model.kind)
        except LLMLearnError as exc:
            return f"cannot build the {name} split of {self.name}: {exc}"
        except Exception as exc:  # e.g. MemoryError: a reason, like every other failure here
            return f"cannot build the {name} split of {self.name}: {type(exc).__name__}: {exc}"


class FixedModelSource:
    """A given model (tests, scripts): every ``live()`` returns a fresh copy of its weights."""

    def __init__(self, model: Model, task: TaskConfig, label: str = "model",
                 splits: dict[str, EncodedSplit] | None = None) -> None:
        self.model = model
        self.task = task
        self.label = label
        self.splits = splits or {}

    def live(self) -> ProbeModel | str:
        return ProbeModel(copy_model(self.model), self.task, self.label)

    def evaluation_split(self, name: str = "test") -> EncodedSplit | str:
        split = self.splits.get(name)
        return split if split is not None else f"{self.label} has no {name} split"


def source_for(choice: str, live: ModelSource | None, root: str | None = None) -> ModelSource:
    """The source a picker value names: ``LIVE`` → ``live`` (or a source with no run), ``ck:NAME`` → that
    checkpoint."""
    if choice.startswith(CHECKPOINT_PREFIX):
        return CheckpointModelSource(choice[len(CHECKPOINT_PREFIX):], root)
    return live if live is not None else SessionModelSource(lambda: None)


def normalize_choice(choice: str) -> str:
    """``"live"`` stays; ``"ck:NAME"`` stays; a bare name means that checkpoint (``"ck:NAME"``)."""
    if choice != LIVE and not choice.startswith(CHECKPOINT_PREFIX):
        return f"{CHECKPOINT_PREFIX}{choice}"
    return choice


def short_reason(info: CheckpointInfo) -> str:
    """Why ``info`` is unreadable, without its own directory's path in front (``config.json: is not a
    regular file (a FIFO) …``): the words that fit in a table cell."""
    reason = info.error or ""
    for prefix in (f"{info.path}/", f"{info.path}: ", str(info.path)):
        if reason.startswith(prefix):
            return reason[len(prefix):].lstrip() or reason
    return reason


def checkpoint_label(info: CheckpointInfo) -> str:
    """How the chooser lists a checkpoint: name · kind · task · test accuracy."""
    if info.error:
        return f"{info.name} · unreadable"
    acc = info.metrics.get("test_accuracy")
    acc_text = f" · test {acc:.2%}" if isinstance(acc, int | float) else ""  # 99.95%, not a rounded 100.0%
    return f"{info.name} · {info.kind} · {info.task}{acc_text}"


def choice_options(infos: list[CheckpointInfo], wanted: str = LIVE) -> list[tuple[str, str]]:
    """The chooser's (label, value) list: the live run, every checkpoint, and ``wanted`` if not listed yet."""
    options = [("live run", LIVE)]
    options += [(checkpoint_label(i), f"{CHECKPOINT_PREFIX}{i.name}") for i in infos]
    if wanted not in [v for _, v in options]:
        options.append((wanted.removeprefix(CHECKPOINT_PREFIX), wanted))
    return options


class ModelChoice:
    """The model a probing pane looks at: ``choice`` ("live" or "ck:NAME") and the ``source`` it names.

    ``live`` answers for the live run; a checkpoint's source is built once per choice (it caches the
    checkpoint it read). ``session()`` is the live session whose parameters a pane may read directly
    (only while the choice is the live run)."""

    def __init__(self, live: ModelSource | None = None, root: str | None = None,
                 get_session: Callable[[], TrainingSession | None] | None = None) -> None:
        if live is None and get_session is not None:
            live = SessionModelSource(get_session)
        self.live: ModelSource = live if live is not None else SessionModelSource(lambda: None)
        if get_session is None and isinstance(self.live, SessionModelSource):
            get_session = self.live.get_session
        self.get_session = get_session
        self.root = root
        self.choice = LIVE
        self._cache: ModelSource | None = None

    @property
    def is_live(self) -> bool:
        return self.choice == LIVE

    def pick(self, choice: str) -> str:
        """Look at ``choice`` from now on (a bare name means a checkpoint); returns the normalised value."""
        self.choice = normalize_choice(choice)
        self._cache = None
        return self.choice

    def source(self) -> ModelSource:
        if self.choice == LIVE:
            return self.live
        if self._cache is None:
            self._cache = source_for(self.choice, self.live, self.root)
        return self._cache

    def session(self) -> TrainingSession | None:
        if self.choice != LIVE or self.get_session is None:
            return None
        try:
            return self.get_session()
        except Exception:  # a getter of a half-built app: treat as "no run"
            return None
