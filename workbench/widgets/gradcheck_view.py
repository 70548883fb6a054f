"""The gradient check's section: a button, a progress bar, a status line and one table row per tensor.

A view only: the owner runs the check (in a worker) and tells the view what happened — ``started(label)``,
``progress(done, total, name)``, then ``finished(report, label)`` or ``failed(reason)``; ``reset(note)``
when the model changes, so no table of another model stays on screen. The result names the model it
was run on (``label``). The button posts the usual ``Button.Pressed`` (id ``{prefix}-gradcheck-run``)
upward. Text comes from ``workbench.render.evaluation``.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Button, DataTable, ProgressBar, Static

from core.probe.gradcheck_report import GradCheckReport
from workbench.render.evaluation import gradcheck_result, gradcheck_verdict
from workbench.render.params import shape_text

HINT = "Press g (or the button) to compare each tensor's backprop gradient with finite differences."
COLUMNS = ("tensor", "shape", "checked", "max rel. error", "result")


class GradCheckView(Widget):
    """Parts: ``#{prefix}-gradcheck-run`` (Button), ``-progress`` (ProgressBar), ``-status`` (Static),
    ``-table`` (DataTable, keyed by tensor name)."""

    DEFAULT_CSS = """
    GradCheckView {
        height: auto;
        layout: vertical;
    }
    """

    def __init__(self, prefix: str, id: str | None = None) -> None:
        super().__init__(id=id)
        self.prefix = prefix
        self.report: GradCheckReport | None = None
        self.label = ""  # the model the shown (or running) check is of

    def compose(self) -> ComposeResult:
        p = self.prefix
        with Horizontal(classes=f"{p}-row"):
            yield Button("Check gradients", id=f"{p}-gradcheck-run", compact=True,
                         tooltip="On a float64 copy, a few elements per tensor (g)")
            yield ProgressBar(total=None, show_eta=False, id=f"{p}-gradcheck-progress")
        yield Static("", id=f"{p}-gradcheck-status")
        yield DataTable(id=f"{p}-gradcheck-table", cursor_type="row", zebra_stripes=True)

    def _part(self, name: str) -> str:
        return f"#{self.prefix}-gradcheck-{name}"

    def on_mount(self) -> None:
        table = self.query_one(self._part("table"), DataTable)
        table.add_columns(*COLUMNS)
        table.display = False
        self.query_one(self._part("progress")).display = False
        self.query_one(self._part("status"), Static).update(Text(HINT, style="dim"))

    def _of(self) -> str:
        return f" of {self.label}" if self.label else ""

    def reset(self, note: str = "") -> None:
        """Back to the hint (another model was picked): the old table goes, ``note`` says why."""
        self.report, self.label = None, ""
        table = self.query_one(self._part("table"), DataTable)
        table.clear()
        table.display = False
        self.query_one(self._part("progress")).display = False
        hint = f"{note} {HINT}" if note else HINT
        self.query_one(self._part("status"), Static).update(Text(hint, style="dim"))

    def started(self, label: str = "") -> None:
        self.label = label
        bar = self.query_one(self._part("progress"), ProgressBar)
        bar.display = True
        bar.update(total=None, progress=0)
        self.query_one(self._part("status"), Static).update(Text(f"checking{self._of()}…", style="dim"))

    def progress(self, done: int, total: int, name: str) -> None:
        self.query_one(self._part("progress"), ProgressBar).update(total=total, progress=done)
        self.query_one(self._part("status"), Static).update(
            Text(f"checking{self._of()} {done}/{total}: {name}", style="dim"))

    def failed(self, reason: str | None) -> None:
        self.query_one(self._part("progress")).display = False
        self.query_one(self._part("status"), Static).update(Text(f"✗ {reason}", style="bold red"))

    def finished(self, report: GradCheckReport, label: str | None = None) -> None:
        self.query_one(self._part("progress")).display = False
        self.report = report
        if label is not None:
            self.label = label
        table = self.query_one(self._part("table"), DataTable)
        table.clear()
        for row in report.rows:
            table.add_row(row.name, shape_text(row.shape), f"{row.checked}/{row.size:,}",
                          f"{row.max_rel_error:.2e}", gradcheck_result(row.passed), key=row.name)
        table.display = True
        verdict = gradcheck_verdict(report)
        if self.label:
            verdict = Text.assemble((f"{self.label}: ", "bold"), verdict)
        self.query_one(self._part("status"), Static).update(verdict)
