"""Evaluation report of a model on a split: the numbers a person checks after training.

Overall accuracy, accuracy by operation and by argument count, the confusion matrix of true vs
predicted answers, the mistakes themselves, accuracy by slice (``core.train.slices``), and a warning
when the gap between training and validation accuracy says the model memorises rather than generalises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.data.batching import EncodedSplit, make_batch
from core.data.expression import Expression, parse_expression
from core.data.operations import Answer
from core.data.task import TaskConfig
from core.nn.models.factory import Model
from core.train.evaluation import EvalResult, evaluate
from core.train.objective import forward_loss
from core.train.slices import Slice, compute_slices, min_slice_accuracy, slices_to_dict, worst_slices

#: train − validation accuracy above which the report warns about overfitting
OVERFIT_GAP = 0.05


@dataclass(frozen=True)
class Mistake:
    expression: str
    truth: Answer  # a number, or a list (Sort)
    predicted: Answer  # −1: the decoder produced no valid answer


@dataclass
class EvaluationReport:
    split: str
    n: int
    loss: float
    accuracy: float
    accuracy_by_op: dict[str, float]
    accuracy_by_nargs: dict[int, float]
    confusion: np.ndarray  # (C, C+1): rows true answer, columns predicted; last column "no answer"
    mistakes: list[Mistake]
    train_accuracy: float | None = None
    warnings: list[str] = field(default_factory=list)
    slices: dict[str, list[Slice]] = field(default_factory=dict)  # slicing key → slices (core.train.slices)

    def worst_slices(self, k: int = 3) -> list[Slice]:
        """The ``k`` least accurate slices (of at least ``MIN_SLICE_COUNT`` examples) across slicings."""
        return worst_slices(self.slices, k)

    def top_confusions(self, k: int = 10) -> list[tuple[int, int, int]]:
        """The ``k`` most frequent (true, predicted, count) errors."""
        c = self.confusion.copy()
        np.fill_diagonal(c[:, : c.shape[0]], 0)
        flat = np.argsort(-c, axis=None)[:k]
        out = []
        for idx in flat:
            t, p = np.unravel_index(idx, c.shape)
            if c[t, p] == 0:
                break
            out.append((int(t), -1 if p == c.shape[0] else int(p), int(c[t, p])))
        return out

    def to_dict(self, max_mistakes: int = 100) -> dict[str, Any]:
        return {
            "split": self.split, "n": self.n, "loss": self.loss, "accuracy": self.accuracy,
            "accuracy_by_operation": self.accuracy_by_op,
            "accuracy_by_n_args": {str(k): v for k, v in self.accuracy_by_nargs.items()},
            "train_accuracy": self.train_accuracy,
            "confusion_matrix": self.confusion.tolist(),
            "top_confusions": [{"truth": t, "predicted": p, "count": n} for t, p, n in self.top_confusions()],
            "mistakes": [m.__dict__ for m in self.mistakes[:max_mistakes]],
            "n_mistakes": len(self.mistakes), "warnings": self.warnings,
            "slices": slices_to_dict(self.slices), "min_slice_accuracy": min_slice_accuracy(self.slices),
        }


def confusion_matrix(result: EvalResult, num_classes: int) -> np.ndarray:
    """Counts (true, predicted) of the rows whose answer is a number (a list answer, Sort's, has no
    cell); predictions of −1 (no valid answer) go to the extra last column."""
    numbers = result.answers >= 0
    pred = np.where(result.predictions < 0, num_classes, result.predictions)[numbers]
    pred = np.minimum(pred, num_classes)
    m = np.zeros((num_classes, num_classes + 1), dtype=np.int64)
    np.add.at(m, (result.answers[numbers], pred), 1)
    return m


def build_report(model: Model, task: TaskConfig, split_name: str, split: EncodedSplit,
                 train: EncodedSplit | None = None, train_sample: int = 5_000) -> EvaluationReport:
    result = evaluate(model, split)
    expressions = split_expressions(split, task)
    wrong = np.flatnonzero(~result.correct)
    mistakes = [Mistake(split.texts[i], expressions[i].answer(), _or_none(result.predicted_answer(int(i))))
                for i in wrong]
    report = EvaluationReport(
        split=split_name, n=result.n, loss=result.loss, accuracy=result.accuracy,
        accuracy_by_op={task.operations[i]: a for i, a in result.accuracy_by_op.items()},
        accuracy_by_nargs=dict(result.accuracy_by_nargs),
        confusion=confusion_matrix(result, task.num_classes), mistakes=mistakes,
        slices=compute_slices(expressions, result.correct, task.operations, task.max_value),
    )
    if train is not None and split_name != "train":
        report.train_accuracy = _train_accuracy(model, train, train_sample)
        gap = report.train_accuracy - report.accuracy
        if gap > OVERFIT_GAP:
            report.warnings.append(
                f"overfitting: training accuracy {report.train_accuracy:.1%} is {gap:.1%} above {split_name} "
                f"accuracy {report.accuracy:.1%}; more data, dropout or weight decay may help")
    return report


def _or_none(answer: Answer | None) -> Answer:
    return -1 if answer is None else answer


def split_expressions(split: EncodedSplit, task: TaskConfig) -> list[Expression]:
    """The split's expressions, re-parsed from its canonical texts (each distinct text once) in their
    ``task`` — which gives Sum its modulus: parsed without it, ``Sum(30, 20)`` of a mod-47 task read as
    50, and evaluations reported slices and mistakes for answers the task cannot have.

    An EncodedSplit keeps only arrays and texts; parsing the texts back is cheaper than carrying the
    Example objects through every caller, and canonical flat text takes the parser's fast path.
    """
    parsed: dict[str, Expression] = {}
    out = []
    for text in split.texts:
        expr = parsed.get(text)
        if expr is None:
            expr = parsed[text] = parse_expression(text, task)
        out.append(expr)
    return out


def _train_accuracy(model: Model, train: EncodedSplit, sample: int) -> float:
    """Accuracy on (a fixed sample of) the training split: enough to measure the generalisation gap."""
    n = len(train)
    idx = np.arange(n) if n <= sample else np.random.default_rng(0).choice(n, sample, replace=False)
    correct = 0
    with model.eval_mode():
        for start in range(0, len(idx), 512):
            batch = make_batch(train, idx[start : start + 512])
            correct += int(forward_loss(model, batch).correct.sum())
    return correct / len(idx)
