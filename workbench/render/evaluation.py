"""Text of the inspector's Evaluation and Gradient-check sections: accuracy by operation and argument
count, the lowest slices (``core.train.slices``), the confusion matrix (a shaded grid for answers 0–9,
the most frequent confusions beyond), the title of the mistakes table, and the gradient check's verdict."""

from __future__ import annotations

from rich.text import Text

from core.data.answer_format import format_answer
from core.data.task import TaskConfig
from core.probe.gradcheck_report import GradCheckReport
from core.probe.inspection import confusion_shares
from core.train.report import EvaluationReport
from workbench.render.grids import grid, hbar

ACCURACY_BAR = 20
TOP_CONFUSIONS = 12
LOWEST_SLICES = 3  # slices listed under "lowest slices": enough to point at a weakness, short enough to read


def accuracy_text(report: EvaluationReport, label: str) -> Text:
    """Overall accuracy and loss, then a bar per operation and per argument count (yellow below 99%), and
    the least accurate slices, so a weakness hidden by a high overall accuracy shows."""
    text = Text(no_wrap=True, overflow="crop")
    wrong = len(report.mistakes)
    text.append(f"{report.split}: accuracy {report.accuracy:.2%}", style="bold")
    text.append(f" ({report.n - wrong:,}/{report.n:,}) · loss {report.loss:.4f} · {label}\n", style="dim")
    text.append("by operation\n", style="bold")
    for op, acc in report.accuracy_by_op.items():
        text.append(f"  {op:<7}")
        text.append(hbar(acc, ACCURACY_BAR), style="cyan" if acc >= 0.99 else "yellow")
        text.append(f" {acc:7.2%}\n")
    text.append("by argument count\n", style="bold")
    for n, acc in report.accuracy_by_nargs.items():
        text.append(f"  {n} args ")
        text.append(hbar(acc, ACCURACY_BAR), style="cyan" if acc >= 0.99 else "yellow")
        text.append(f" {acc:7.2%}\n")
    worst = report.worst_slices(LOWEST_SLICES)
    if worst:
        text.append("lowest slices\n", style="bold")
        for s in worst:
            text.append(f"  {s.title[:24]:<24} ")
            text.append(hbar(s.accuracy, ACCURACY_BAR), style="cyan" if s.accuracy >= 0.99 else "yellow")
            text.append(f" {s.accuracy:7.2%} (n={s.n:,})\n")
    for w in report.warnings:
        text.append(f"⚠ {w}\n", style="yellow")
    text.rstrip()
    return text


def confusion_text(report: EvaluationReport, task: TaskConfig, width: int = 80) -> Text:
    """Answers 0–9: the full matrix (rows true, columns predicted, – = no valid answer), counts shaded by
    their share of the row. Larger tasks: the most frequent confusions as a list."""
    c = report.confusion.astype("float64")
    text = Text(no_wrap=True, overflow="crop")
    if task.list_valued and not c.any():  # only list answers (Sort): no matrix, the mistakes themselves
        if not report.mistakes:
            text.append("every list was right: no mistakes", style="green")
            return text
        n = len(report.mistakes)
        which = (f"the first {TOP_CONFUSIONS}" if n > TOP_CONFUSIONS else "all of them" if n > 1 else "it")
        text.append(f"answers are lists, so no confusion matrix; {n:,} mistake{'s' if n != 1 else ''}, {which}:\n",
                    style="dim")
        for m in report.mistakes[:TOP_CONFUSIONS]:
            said = "no answer" if m.predicted == -1 else format_answer(m.predicted)
            text.append(f"  {m.expression} = {format_answer(m.truth)}, model: {said}\n")
        text.rstrip()
        return text
    if task.num_classes <= 10:
        text.append("confusion: rows = true answer, columns = predicted (– = no valid answer); "
                    "shade = share of the row\n", style="dim")
        cols = [str(i) for i in range(task.num_classes)] + ["–"]
        cell = min(5, max(3, (width - 4) // len(cols)))
        text.append_text(grid(c, [str(i) for i in range(task.num_classes)], cols, cell_width=cell, values="count",
                              shade=confusion_shares(c)))
        return text
    top = report.top_confusions(TOP_CONFUSIONS)
    if not top:
        text.append("no confusions: every answer was right", style="green")
        return text
    text.append("most frequent confusions (true → predicted × count)\n", style="dim")
    for t, p, n in top:
        text.append(f"  {t:>3} → {'none' if p < 0 else p:>4}  ×{n}\n")
    text.rstrip()
    return text


def mistakes_title(n: int, limit: int) -> Text:
    """The line above the mistakes table."""
    if not n:
        return Text("no mistakes on this split", style="green")
    shown = f" (first {limit:,})" if n > limit else ""
    return Text(f"{n:,} mistake{'s' if n != 1 else ''}{shown} — Enter opens one in the Inference console", style="bold")


def gradcheck_verdict(report: GradCheckReport) -> Text:
    """✓/✗, how many tensors failed, the worst relative error against the tolerance, and the cost."""
    verdict = ("all tensors pass" if report.passed else
               f"{sum(not r.passed for r in report.rows)} tensor(s) above the tolerance")
    return Text.assemble(
        ("✓ " if report.passed else "✗ ", "bold green" if report.passed else "bold red"),
        f"{verdict}: worst relative error {report.max_error:.2e} (tolerance {report.tolerance:.0e}) · "
        f"{report.n_checked:,} elements, batch of {report.batch_size}, {report.seconds:.1f} s",
    )


def gradcheck_result(passed: bool) -> Text:
    """The result cell of one tensor's row."""
    return Text("pass", style="green") if passed else Text("FAIL", style="bold red")
