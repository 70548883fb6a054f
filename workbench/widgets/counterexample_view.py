"""The Inspector's counterexample section: where, among inputs people type, the model is weak.

``core.probe.counterexamples`` draws named regions of inputs (small numbers, ties, all equal, sorted,
the app's own examples, …) and scores the model on each. A test split is drawn like the training data,
so a model can pass it and still fail the first thing a learner types; this view shows, per region,
the accuracy, the number of examples and a ✗ when it is below the threshold, then the failing examples
of each weak region. Enter on a failing example posts ``FailureChosen`` (the pane turns it into
``OpenInConsole``), so the learner can see the model get it wrong, step by step, in the Inference pane.

Two parts, like the gradient check's view:

* ``search(source, …)`` — what the pane's thread worker runs: a copy of the model from the source, the
  search, and a one-line reason instead of any exception. Textual-free, never touches a widget.
* ``CounterexampleView`` — a view only: the owner calls ``started()``, then ``finished(search)`` or
  ``failed(reason)``. The wording mirrors ``workbench counterexamples NAME`` (``cli_probe``).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Static

from core.data.task import TaskConfig
from core.probe.counterexamples import REGIONS, CounterexampleReport, Failure, find_counterexamples
from workbench.model_source import ModelSource

HINT = ("Press x (or Counterexamples) to search inputs people type first — small numbers, ties, all equal, "
        "sorted, the app's examples — for regions where the model is wrong.")
#: the short numbers first, so that they stay in view in a narrow pane; the long texts after them
SUMMARY_TITLES = 3  # weak regions named in the summary (the rest: "and N more"), so it stays short at 80×24
COLUMNS = ("", "accuracy", "n", "region / failing example", "lowest operation / why skipped")

__all__ = ["COLUMNS", "HINT", "CounterexampleSearch", "CounterexampleView", "model_name", "percent", "search",
           "summary_text"]


# -- the worker's part (no Textual) ----------------------------------------------------------------------
@dataclass(frozen=True)
class CounterexampleSearch:
    """A finished search: the report, the task it ran on and the label of the model copy searched."""

    report: CounterexampleReport
    task: TaskConfig
    label: str


def search(source: ModelSource, threshold: float, per_region: int, seed: int = 0) -> CounterexampleSearch | str:
    """``find_counterexamples`` on a copy of ``source``'s model, or why not, in one line. Never raises.

    ``source.live()`` returns a model the caller owns (a clone taken under the session lock, or a fresh
    build of a checkpoint), so the search's forwards, which overwrite the model's caches, disturb no other
    thread. Blocks (a checkpoint read, the session lock, the forwards): call it from a thread worker."""
    try:
        probe = source.live()
        if isinstance(probe, str):
            return probe
        report = find_counterexamples(probe.model, probe.task, threshold, per_region, seed)
        return CounterexampleSearch(report, probe.task, probe.label)
    except Exception as exc:  # a bad option (ConfigError) or anything unexpected: a reason, not a traceback
        return f"{type(exc).__name__}: {exc}"


# -- text -----------------------------------------------------------------------------------------------
def percent(threshold: float) -> str:
    """0.99 → "99%", 0.995 → "99.5%": the threshold as a learner would write it (never rounded up to 100%)."""
    return f"{threshold * 100:.6g}%"


def model_name(label: str) -> str:
    """The model's name from a source's label: "encoder-digits · step 12,000" → "encoder-digits";
    the live run → "the live run"."""
    name = label.split(" · ")[0].strip() or "the model"
    return "the live run" if name == "live run" else name


def summary_text(report: CounterexampleReport, label: str) -> Text:
    """What the table is, which regions are weak, what to try next, and how the search was run."""
    name, pct = model_name(label), percent(report.threshold)
    weak = set(report.weak)
    text = Text()
    if weak:
        titles = [r.title for r in report.regions if r.name in weak]
        shown = titles if len(titles) <= SUMMARY_TITLES + 1 else titles[:SUMMARY_TITLES]
        text.append(f"Regions where {name} is below {pct}: ", style="bold")
        text.append(", ".join(shown), style="bold yellow")
        if len(shown) < len(titles):
            text.append(f" and {len(titles) - len(shown)} more", style="bold yellow")
        text.append(f" ({len(titles)} of {len(report.regions)}, marked ✗).\n")
        text.append("Enter on a ✗ region: its failing examples; Enter on one: the Inference console. "
                    "Train longer or on such inputs, then search again.", style="dim")
    else:
        text.append(f"No region below {pct}: ", style="bold green")
        text.append(f"{name} is at or above {pct} on all {len(report.regions)} regions searched.\n")
        text.append("Try your own inputs in the Inference console, or more examples per region "
                    f"(workbench counterexamples NAME --per-region {min(10 * report.per_region, 10_000)}).",
                    style="dim")
    text.append(f"\n{label} · up to {report.per_region:,} examples per region, seed {report.seed}", style="dim")
    return text


def _answer(failure: Failure) -> str:
    return "no answer" if failure.answer is None else f"said {failure.answer}"


def _lowest_operation(by_operation: dict[str, float]) -> str:
    if not by_operation:
        return "–"
    op, acc = min(by_operation.items(), key=lambda kv: kv[1])
    return f"{op} {acc:.1%}" if acc < 1.0 else "–"


# -- the view -------------------------------------------------------------------------------------------
class CounterexampleView(Widget):
    """Parts: ``#insp-cx-summary`` and ``#insp-cx-status`` (Static), ``#insp-cx`` (DataTable).

    Row keys: ``region:NAME`` (a searched region), ``skipped:NAME``, ``failures:NAME`` (the heading of a
    weak region's failing examples) and ``failure:I`` (``failures[I]``)."""

    DEFAULT_CSS = """
    CounterexampleView {
        height: auto;
        layout: vertical;
    }
    """

    class Grew(Message):
        """The view changed size while ``pinned``: its owner scrolls it back to the top of the column."""

    #: set by the owner when it scrolls the view into view, cleared by the user's next key or scroll: a
    #: scroll asks for a place in the layout of the moment, and the results fill in over later refreshes
    #: (under load, after the scroll was clamped to the shorter column), so each growth re-asks
    pinned = False

    def on_resize(self) -> None:
        if self.pinned:
            self.post_message(self.Grew())

    class FailureChosen(Message):
        """Enter on a failing example: show ``expression`` in the Inference console."""

        def __init__(self, expression: str) -> None:
            super().__init__()
            self.expression = expression

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.result: CounterexampleSearch | None = None
        self.failures: list[Failure] = []  # the failure rows, in table order

    _placing = False  # the cursor was just placed by ``finished``, not moved by the keyboard

    def compose(self) -> ComposeResult:
        yield Static("", id="insp-cx-summary")
        yield Static("", id="insp-cx-status")
        yield DataTable(id="insp-cx", cursor_type="row", zebra_stripes=True)

    @property
    def table(self) -> DataTable[str | Text]:
        return self.query_one("#insp-cx", DataTable)

    def on_mount(self) -> None:
        self.table.add_columns(*COLUMNS)
        self.table.display = False
        self.query_one("#insp-cx-summary").display = False
        self._status(Text(HINT, style="dim"))

    def _status(self, text: Text | str) -> None:
        status = self.query_one("#insp-cx-status", Static)
        status.update(text)
        status.display = bool(str(text))

    # -- what the owner calls -----------------------------------------------------------------------------
    def started(self, per_region: int) -> None:
        self._status(Text(f"searching {len(REGIONS)} regions (up to {per_region:,} examples each)…",
                          style="dim"))

    def failed(self, reason: str | None) -> None:
        self._status(Text(f"✗ cannot search: {reason}", style="bold red"))

    def finished(self, result: CounterexampleSearch) -> None:
        """Fill the table: every region (weak ones marked ✗), the skipped ones with the reason, then
        each weak region's failing examples; the cursor waits on the first weak region."""
        self.result = result
        report = result.report
        weak = set(report.weak)
        table = self.table
        table.clear()
        self.failures = []
        first_weak: int | None = None
        for r in report.regions:
            if r.name in weak and first_weak is None:
                first_weak = table.row_count
            mark = Text("✗", style="bold red") if r.name in weak else Text("✓", style="green")
            accuracy = Text(f"{r.accuracy:.1%}", style="bold red" if r.name in weak else "", justify="right")
            table.add_row(mark, accuracy, Text(f"{r.n:,}", justify="right"), r.title,
                          _lowest_operation(r.by_operation), key=f"region:{r.name}")
        for s in report.skipped:
            table.add_row(Text("–", style="dim"), Text("skipped", style="dim", justify="right"), "",
                          Text(s.title, style="dim"), Text(s.reason, style="dim"), key=f"skipped:{s.name}")
        for r in report.regions:
            if r.name not in weak or not r.failures:
                continue
            table.add_row("", "", "", Text(f"{r.title}, failing:", style="bold"), Text(r.description, style="dim"),
                          key=f"failures:{r.name}")
            for f in r.failures:
                table.add_row(Text("→", style="dim"), Text(_answer(f), style="red", justify="right"), "",
                              f"  {f.expression} = {f.expected}", "", key=f"failure:{len(self.failures)}")
                self.failures.append(f)
        self.query_one("#insp-cx-summary", Static).update(summary_text(report, result.label))
        self.query_one("#insp-cx-summary").display = True
        self._status("")
        table.display = True
        # on the first weak region: Enter there lists its failing examples, Enter on one opens it. That
        # move is the program's, not the keyboard's: the owner scrolls the section (summary first) into view,
        # and the highlight it causes must not scroll the table over the summary afterwards
        self._placing = True
        table.move_cursor(row=first_weak or 0, animate=False)

    def first_failure_row(self, region: str) -> int | None:
        """The table row of ``region``'s first failing example (None: it has none listed)."""
        try:
            return self.table.get_row_index(f"failures:{region}") + 1
        except Exception:  # RowDoesNotExist: the region is not weak, or has no failures
            return None

    @on(DataTable.RowHighlighted, "#insp-cx")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The table scrolls itself to the cursor, but not the detail column it sits in: keep the whole
        table (it is at most 40% of the screen high) in view while the keyboard moves in it."""
        event.stop()
        if self._placing:
            self._placing = False
        elif self.table.has_focus:
            self.call_after_refresh(self.table.scroll_visible, animate=False)

    @on(DataTable.RowSelected, "#insp-cx")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a failing example opens it; on a weak region, the cursor jumps to its examples."""
        event.stop()
        kind, _, value = str(event.row_key.value).partition(":")
        if kind == "failure":
            index = int(value)
            if 0 <= index < len(self.failures):
                self.post_message(self.FailureChosen(self.failures[index].expression))
        elif kind in ("region", "failures"):
            row = self.first_failure_row(value)
            if row is not None:
                self.table.move_cursor(row=row)
