"""Ablation: switch parts of the model off and measure what its answers lose.

An ablation is a set of heads, feed-forward neurons and whole sublayers, each replaced in the forward pass
either by zero or by its mean activation over a reference set (``mean=True``; "mean ablation" asks "what if
this part stopped carrying information about *this* input", without pushing the residual stream to values
it never has). It is a mask in the forward pass (``core.nn.layers.hooks.Knockout``): the weights never
change, and taking the hooks out restores the model bit for bit. While hooks are installed the model
trains through them too (the ablated parts get zero gradient), so an ablation can stay on during training.

    ablation_hooks(model, ablation, reference)   → {(layer, point): Knockout}
    with ablated(model, ablation, reference): …  the model ablated for the block
    run_ablation(model, task, split, ablation)   → AblationResult: accuracy overall, by operation, by slice
    heads_one_by_one(model, task, split)         → each head ablated alone: accuracy and by operation
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.data.batching import EncodedSplit
from core.data.expression import Expression
from core.data.task import TaskConfig
from core.errors import LabError
from core.nn.layers.hooks import Knockout
from core.nn.models.factory import Model
from core.probe.lab.activations import Point, hooked, mean_activations
from core.probe.lab.components import HeadId, NeuronChoice, SublayerId, all_heads
from core.probe.lab.margins import answer_margins
from core.train.report import split_expressions
from core.train.slices import Slice, compute_slices, min_slice_accuracy, slices_to_dict


@dataclass(frozen=True)
class Ablation:
    heads: tuple[HeadId, ...] = ()
    neurons: tuple[NeuronChoice, ...] = ()
    sublayers: tuple[SublayerId, ...] = ()
    mean: bool = False

    @property
    def empty(self) -> bool:
        return not (self.heads or self.neurons or self.sublayers)

    def describe(self) -> str:
        """e.g. ``heads 0.1, 1.3; neurons 1:top8 (mean)``; ``nothing`` when empty."""
        parts = []
        if self.heads:
            parts.append("heads " + ", ".join(str(h) for h in self.heads))
        if self.neurons:
            parts.append("neurons " + ", ".join(str(n) for n in self.neurons))
        if self.sublayers:
            parts.append("sublayers " + ", ".join(str(s) for s in self.sublayers))
        if not parts:
            return "nothing"
        return "; ".join(parts) + (" (mean)" if self.mean else " (zero)")


def _points(ablation: Ablation) -> list[Point]:
    pts: list[Point] = [(h.layer, "heads") for h in ablation.heads]
    pts += [(n.layer, "neurons") for n in ablation.neurons]
    pts += [(s.layer, f"{s.kind}_out") for s in ablation.sublayers]
    return list(dict.fromkeys(pts))


def top_neurons(means: np.ndarray, k: int) -> tuple[int, ...]:
    """The ``k`` neurons with the largest mean activation (over positions, from a (1, T, d_ff) mean)."""
    level = means[0].mean(axis=0)
    return tuple(int(i) for i in np.argsort(-level, kind="stable")[:k])


def head_columns(model: Model, head: HeadId) -> slice:
    """Head ``head``'s columns in the concatenated head outputs (the "heads" hook point)."""
    d_head = model.config.d_model // model.config.n_heads
    return slice(head.head * d_head, (head.head + 1) * d_head)


def ablation_hooks(model: Model, ablation: Ablation, reference: EncodedSplit | None = None) -> dict[Point, Knockout]:
    """One Knockout per hook point the ablation touches. Mean ablation and top-k neurons need a
    ``reference`` split to take means over."""
    points = _points(ablation)
    needs_means = ablation.mean or any(n.top for n in ablation.neurons)
    if needs_means and reference is None:
        raise LabError("mean ablation and top-k neurons need a reference set to take means over")
    means = mean_activations(model, reference, points) if needs_means and reference is not None and points else {}
    width = {"heads": model.config.d_model, "attn_out": model.config.d_model, "ffn_out": model.config.d_model,
             "neurons": model.config.d_ff}
    keep = {p: np.ones((1, 1, width[p[1]]), dtype=model.dtype) for p in points}
    for h in ablation.heads:
        keep[(h.layer, "heads")][..., head_columns(model, h)] = 0
    for n in ablation.neurons:
        chosen = top_neurons(means[(n.layer, "neurons")], n.top) if n.top else n.neurons
        keep[(n.layer, "neurons")][..., list(chosen)] = 0
    for s in ablation.sublayers:
        keep[(s.layer, f"{s.kind}_out")][...] = 0
    return {p: Knockout(keep[p], means[p] if ablation.mean else None) for p in points}


@contextmanager
def ablated(model: Model, ablation: Ablation, reference: EncodedSplit | None = None) -> Iterator[None]:
    """The model with ``ablation`` in its forward pass for the duration of the block."""
    with hooked(model, ablation_hooks(model, ablation, reference)):
        yield


@dataclass
class Accuracy:
    """Accuracy on a split, overall, by operation and by slice; and the mean answer margin by operation
    (``core.probe.lab.margins``), which moves when accuracy does not."""

    accuracy: float
    by_operation: dict[str, float]
    margin_by_operation: dict[str, float]
    slices: dict[str, list[Slice]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "by_operation": self.by_operation,
                "margin_by_operation": self.margin_by_operation,
                "min_slice_accuracy": min_slice_accuracy(self.slices), "slices": slices_to_dict(self.slices)}


def measure(model: Model, task: TaskConfig, split: EncodedSplit,
            expressions: Sequence[Expression] | None = None, slices: bool = True) -> Accuracy:
    """Accuracy by operation and (``slices``) by slice, and the mean answer margin by operation, from one
    forward pass: a row is right exactly when its margin is positive — the encoder's argmax is the answer;
    the decoder's every teacher-forced answer token is the argmax, which is when greedy generation writes
    the answer (``TransformerDecoder.scored_correct``). So this is the evaluation's accuracy
    (``core.train.evaluation.evaluate``; tests/test_cli_lab.py compares the two), without generating."""
    margins = answer_margins(model, split)
    correct = margins > 0
    ops = np.unique(split.op_ids)
    by_op = {task.operations[int(o)]: float(correct[split.op_ids == o].mean()) for o in ops}
    by_margin = {task.operations[int(o)]: float(margins[split.op_ids == o].mean()) for o in ops}
    cut = {}
    if slices:
        exprs = split_expressions(split, task) if expressions is None else expressions
        cut = compute_slices(exprs, correct, task.operations, task.max_value)
    return Accuracy(float(correct.mean()), by_op, by_margin, cut)


@dataclass
class AblationResult:
    ablation: Ablation
    split: str
    n: int
    baseline: Accuracy
    ablated: Accuracy

    def to_dict(self) -> dict[str, Any]:
        return {"ablation": self.ablation.describe(), "mean": self.ablation.mean, "split": self.split, "n": self.n,
                "baseline_accuracy": self.baseline.accuracy, "baseline_by_operation": self.baseline.by_operation,
                **self.ablated.to_dict()}


def run_ablation(model: Model, task: TaskConfig, split: EncodedSplit, ablation: Ablation, split_name: str = "test",
                 reference: EncodedSplit | None = None) -> AblationResult:
    """Accuracy on ``split`` without and with ``ablation`` (means over ``reference``, default ``split``)."""
    exprs = split_expressions(split, task)
    baseline = measure(model, task, split, exprs)
    if ablation.empty:
        return AblationResult(ablation, split_name, len(split), baseline, baseline)
    with ablated(model, ablation, split if reference is None else reference):
        result = measure(model, task, split, exprs)
    return AblationResult(ablation, split_name, len(split), baseline, result)


@dataclass
class HeadEffect:
    head: HeadId
    accuracy: float
    by_operation: dict[str, float]
    margin_by_operation: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.head.layer, "head": self.head.head, "accuracy": self.accuracy,
                "by_operation": self.by_operation, "margin_by_operation": self.margin_by_operation}


@dataclass
class HeadTable:
    """Each head ablated alone: ``effects[i]`` for head ``effects[i].head``, against ``baseline``."""

    split: str
    n: int
    mean: bool
    baseline: Accuracy
    effects: list[HeadEffect]

    def drops(self, operations: Sequence[str]) -> np.ndarray:
        """(heads, operations + 1) accuracy drops, baseline − ablated; the last column is overall."""
        rows = [[self.baseline.by_operation.get(op, 0.0) - e.by_operation.get(op, 0.0) for op in operations]
                + [self.baseline.accuracy - e.accuracy] for e in self.effects]
        return np.asarray(rows)

    def margin_drops(self, operations: Sequence[str]) -> np.ndarray:
        """(heads, operations) drops of the mean answer margin, baseline − ablated (in logits)."""
        base = self.baseline.margin_by_operation
        return np.asarray([[base.get(op, 0.0) - e.margin_by_operation.get(op, 0.0) for op in operations]
                           for e in self.effects])

    def to_dict(self) -> dict[str, Any]:
        return {"split": self.split, "n": self.n, "mean": self.mean, "baseline_accuracy": self.baseline.accuracy,
                "baseline_by_operation": self.baseline.by_operation, "heads": [e.to_dict() for e in self.effects]}


def heads_one_by_one(model: Model, task: TaskConfig, split: EncodedSplit, split_name: str = "test",
                     mean: bool = False, reference: EncodedSplit | None = None) -> HeadTable:
    """Ablate each head alone (zero or mean) and measure accuracy overall and by operation."""
    baseline = measure(model, task, split, slices=False)
    ref = split if reference is None else reference
    means = mean_activations(model, ref, [(layer, "heads") for layer in range(len(model.blocks))]) if mean else {}
    effects = []
    for head in all_heads(model.config):
        keep = np.ones((1, 1, model.config.d_model), dtype=model.dtype)
        keep[..., head_columns(model, head)] = 0
        point = (head.layer, "heads")
        with hooked(model, {point: Knockout(keep, means.get(point))}):
            result = measure(model, task, split, slices=False)
        effects.append(HeadEffect(head, result.accuracy, result.by_operation, result.margin_by_operation))
    return HeadTable(split_name, len(split), mean, baseline, effects)
