"""What the inspector shows of a model, computed without any UI: the parameter tree, one tensor's view,
and the data behind the evaluation views.

Two ways in: a live ``TrainingSession`` (read through ``session.parameter``: copies taken under the
session lock, so never half an update; gradients and the last update ratio included), or a model copy
the caller owns (a checkpoint or a copy of the live weights: no gradients). Nothing here writes a weight.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.data.answer_format import format_answer
from core.data.vocab import DIGIT_TOKENS, VOCAB
from core.nn.models.factory import Model
from core.probe.param_stats import (
    Histogram,
    ParamStats,
    SimilarityMatrix,
    cosine_similarity,
    embedding_similarity,
    histogram,
    parameter_stats,
    snapshot_stats,
)
from core.train.report import EvaluationReport
from core.train.session import TrainingSession

HIST_BINS = 60

ParamNames = list[tuple[str, tuple[int, ...]]]  # (dotted name, shape), in the model's order


@dataclass
class ModelSummary:
    """The parameter list of a model, its size, the digit-embedding similarity and where it comes from."""

    names: ParamNames
    label: str
    n_params: int
    embeddings: SimilarityMatrix | None


@dataclass
class ParamView:
    """What the Parameter section shows for one tensor."""

    name: str
    stats: ParamStats
    hist: Histogram
    values: np.ndarray
    origin: str  # where the numbers come from (live snapshot, model copy)


def tree_paths(names: ParamNames) -> dict[str, Any]:
    """Nested dict of the dotted names: leaves map to (full name, shape)."""
    root: dict[str, Any] = {}
    for name, shape in names:
        node = root
        parts = name.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = (name, shape)
    return root


def summarize_session(session: TrainingSession) -> ModelSummary:
    """The live run's parameter list and digit-embedding similarity (the embeddings copied under the lock)."""
    params = session.run.model.params  # names and shapes never change
    names = [(p.name, tuple(p.shape)) for p in params]
    snap = session.parameter("embed.weight")
    sim = SimilarityMatrix(cosine_similarity(snap.value[[VOCAB.id_of(t) for t in DIGIT_TOKENS]]), list(DIGIT_TOKENS))
    label = f"live run · step {session.run.step:,} · {session.state}"
    return ModelSummary(names, label, params.num_parameters, sim)


def summarize_model(model: Model, label: str) -> ModelSummary:
    """A model copy's parameter list and digit-embedding similarity."""
    names = [(p.name, tuple(p.shape)) for p in model.params]
    return ModelSummary(names, label, model.num_parameters, embedding_similarity(model))


def session_param_view(session: TrainingSession, name: str, bins: int = HIST_BINS) -> ParamView:
    """Parameter ``name`` of the live run, with its gradient and last update ratio."""
    snap = session.parameter(name)  # copies, under the session lock
    return ParamView(name, snapshot_stats(snap), histogram(snap.value, bins), snap.value,
                     f"live, step {session.run.step:,}")


def model_param_view(model: Model, name: str, origin: str, bins: int = HIST_BINS) -> ParamView:
    """Parameter ``name`` of a model copy (no gradient)."""
    values = model.params[name].value.copy()
    return ParamView(name, parameter_stats(values), histogram(values, bins), values, origin)


def confusion_shares(confusion: np.ndarray) -> np.ndarray:
    """Each cell of a (C, C+1) confusion matrix as a share of its row (rows without examples: 0)."""
    c = np.asarray(confusion, dtype=np.float64)
    totals = c.sum(axis=1, keepdims=True)
    return np.divide(c, totals, out=np.zeros_like(c), where=totals > 0)


def mistake_rows(report: EvaluationReport, limit: int) -> list[tuple[str, str, str]]:
    """The first ``limit`` mistakes as (expression, true answer, what the model said)."""
    return [(m.expression, str(m.truth), "no answer" if m.predicted == -1 else format_answer(m.predicted))
            for m in report.mistakes[:limit]]
