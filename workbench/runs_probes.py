"""Time travel for the Runs pane: one recorded run's model as it was at one snapshot step.

Runs in a thread worker (the pane never computes on the UI thread): the model is rebuilt from the
record's config, the snapshot's weights loaded into it (bit for bit, ``core.train.snapshots``), and the
validation split — regenerated from the config, cached per run — evaluated: accuracy by operation and
slice, the confusions, the attention of one expression, and which parameters moved most since the
previous snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.data.batching import EncodedSplit
from core.data.operations import Answer
from core.data.task import TaskConfig
from core.nn.models import build_model
from core.probe.inference import predict
from core.probe.param_stats import SimilarityMatrix, embedding_similarity
from core.train.held_out import held_out_split
from core.train.records import RunSummary
from core.train.report import EvaluationReport, build_report
from core.train.run import RunConfig
from core.train.snapshots import ParameterChange, diff_snapshots, read_snapshot, snapshot_steps
from workbench.render.attention import AttentionData

_SPLITS: dict[str, EncodedSplit] = {}  # run id → its validation split (regenerating one takes a moment)
_MAX_CACHED = 8


@dataclass
class TimeTravel:
    """A run at one snapshot step: what the model did then, and how it had changed."""

    run_id: str
    step: int
    steps: list[int]  # every snapshot step of the run
    task: TaskConfig
    report: EvaluationReport
    expression: str
    answer: Answer | None
    attention: AttentionData | None
    previous: int | None  # the snapshot ``changes`` are measured from
    changes: list[ParameterChange] = field(default_factory=list)
    embeddings: SimilarityMatrix | None = None  # the digit embeddings' cosine similarity at this step


def _val_split(run: RunSummary, config: RunConfig) -> EncodedSplit:
    split = _SPLITS.get(run.id)
    if split is None:
        if len(_SPLITS) >= _MAX_CACHED:
            _SPLITS.pop(next(iter(_SPLITS)))
        split = _SPLITS[run.id] = held_out_split(config, "val")
    return split


def time_travel(run: RunSummary, step: int, expression: str | None = None, base: int | None = None) -> TimeTravel:
    """The run at the snapshot ``step`` (the nearest one at or before it); ``expression`` (default: the
    first validation expression) is the one whose attention is shown; the parameter changes are measured
    from snapshot ``base`` (default: the one before)."""
    steps = snapshot_steps(run.dir)
    if not steps:
        raise FileNotFoundError(f"run {run.id} has no snapshots (runs recorded before time travel existed)")
    at = max((s for s in steps if s <= step), default=steps[0])
    config = RunConfig.from_dict(run.config)
    task = config.dataset.task
    model = build_model(config.model, config.seed)
    weights = read_snapshot(run.dir, at)
    model.params.load_state_dict(weights)
    model.eval()
    split = _val_split(run, config)
    report = build_report(model, task, "val", split)
    text = expression or split.texts[0]
    (prediction,) = predict(model, task, [text])
    attention = (AttentionData(prediction.attention, prediction.tokens) if prediction.error is None else None)
    i = steps.index(at)
    previous = base if base in steps and base != at else (steps[i - 1] if i > 0 else None)
    changes: list[ParameterChange] = []
    if previous is not None:  # always from the earlier snapshot to the later one
        other = read_snapshot(run.dir, previous)
        changes = diff_snapshots(other, weights) if previous < at else diff_snapshots(weights, other)
    return TimeTravel(run.id, at, steps, task, report, text, prediction.answer, attention, previous, changes,
                      embedding_similarity(model))
