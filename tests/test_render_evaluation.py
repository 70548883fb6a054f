"""The inspector's evaluation and gradient-check text, from hand-built reports."""

from __future__ import annotations

import numpy as np

from core.data.task import TaskConfig
from core.probe.gradcheck_report import GradCheckReport, TensorCheck
from core.probe.inspection import confusion_shares, mistake_rows, tree_paths
from core.train.report import EvaluationReport, Mistake
from workbench.render.evaluation import accuracy_text, confusion_text, gradcheck_verdict, mistakes_title


def report_0_9() -> EvaluationReport:
    confusion = np.zeros((10, 11), dtype=np.int64)
    np.fill_diagonal(confusion, 4)
    confusion[3, 8], confusion[5, 10] = 2, 1
    mistakes = [Mistake("Max(3, 1)", 3, 8), Mistake("Max(3, 2)", 3, 8), Mistake("Min(5, 6)", 5, -1)]
    return EvaluationReport("test", 43, 0.25, 40 / 43, {"Max": 0.9, "Min": 1.0}, {2: 0.95}, confusion, mistakes,
                            warnings=["few examples"])


def test_accuracy_text_lists_operations_argument_counts_and_warnings() -> None:
    lines = accuracy_text(report_0_9(), "tiny").plain.splitlines()
    assert lines[0] == "test: accuracy 93.02% (40/43) · loss 0.2500 · tiny"
    assert lines[1] == "by operation"
    assert lines[2] == f"  Max    {'█' * 18}{' ' * 2}  90.00%"
    assert lines[3] == f"  Min    {'█' * 20} 100.00%"
    assert lines[5] == f"  2 args {'█' * 19}{' ' * 1}  95.00%"
    assert lines[6] == "⚠ few examples"


def test_a_0_9_confusion_is_a_grid_of_counts() -> None:
    lines = confusion_text(report_0_9(), TaskConfig()).plain.splitlines()
    assert lines[1].split() == [str(d) for d in range(10)] + ["–"]
    assert lines[2 + 3].split() == ["3", "4", "2"]  # row 3: 4 right, 2 read as 8
    assert lines[2 + 5].split() == ["5", "4", "1"]  # row 5: 4 right, 1 without an answer
    share = confusion_shares(report_0_9().confusion)
    assert np.isclose(share[3, 8], 2 / 6) and np.allclose(share.sum(axis=1), 1.0)


def test_confusion_shares_of_an_empty_row_are_zero() -> None:
    assert confusion_shares(np.zeros((2, 3))).tolist() == [[0, 0, 0], [0, 0, 0]]


def test_mistake_rows_and_title() -> None:
    rows = mistake_rows(report_0_9(), limit=2)
    assert rows == [("Max(3, 1)", "3", "8"), ("Max(3, 2)", "3", "8")]
    assert mistake_rows(report_0_9(), 10)[2] == ("Min(5, 6)", "5", "no answer")
    assert mistakes_title(3, 1000).plain == "3 mistakes — Enter opens one in the Inference console"
    assert mistakes_title(1, 1000).plain.startswith("1 mistake —")
    assert mistakes_title(1500, 1000).plain.startswith("1,500 mistakes (first 1,000)")
    assert mistakes_title(1000, 1000).plain.startswith("1,000 mistakes — ")  # all shown: no "(first …)"
    assert mistakes_title(0, 1000).plain == "no mistakes on this split"


def test_gradcheck_verdict() -> None:
    rows = [TensorCheck("a", (2,), 2, 2, 1e-9, 1e-12, 1.0, True), TensorCheck("b", (3,), 3, 3, 0.5, 0.1, 1.0, False)]
    report = GradCheckReport(rows, 1.0, 4, 5, 5, 1e-6, False, False, 0.25)
    assert gradcheck_verdict(report).plain == ("✗ 1 tensor(s) above the tolerance: worst relative error 5.00e-01 "
                                               "(tolerance 1e-06) · 5 elements, batch of 4, 0.2 s")
    passing = GradCheckReport(rows[:1], 1.0, 4, 2, 2, 1e-6, False, False, 1.0)
    assert gradcheck_verdict(passing).plain.startswith("✓ all tensors pass: worst relative error 1.00e-09")


def test_tree_paths_nests_the_dotted_names() -> None:
    tree = tree_paths([("embed.weight", (20, 8)), ("blocks.0.attn.qkv.w", (8, 24)), ("blocks.0.ln1.g", (8,))])
    assert tree["embed"]["weight"] == ("embed.weight", (20, 8))
    assert tree["blocks"]["0"]["attn"]["qkv"]["w"] == ("blocks.0.attn.qkv.w", (8, 24))
    assert list(tree["blocks"]["0"]) == ["attn", "ln1"]
