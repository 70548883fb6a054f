"""The Inspector pane: the model's weights, a gradient check, and how well it answers (evaluation).

Left, a tree of every parameter by its dotted name (``blocks.0.attn.qkv.w`` under blocks › 0 › attn ›
qkv); right, in collapsible sections:

* **Parameter** — the highlighted tensor's shape, mean, std, min, max, ‖w‖, ‖∇w‖ and the last step's
  update-to-weight ratio (from ``TrainingSession.parameter``: copies taken under the session lock, so
  never half an update; a checkpoint has no gradients), a histogram of its values and, for a matrix, a
  heatmap downsampled to fit (block means; red negative, blue positive);
* **Digit embeddings** — cos(eᵢ, eⱼ) of the embeddings of "0".."9";
* **Gradient check** — backprop vs central finite differences on a float64 copy (``gradient_check``),
  run on demand in a thread with a progress bar, one table row per tensor;
* **Evaluation** — accuracy per operation and per argument count, the confusion matrix (a shaded grid
  for answers 0–9, the most frequent confusions for 0–99) and a table of the mistakes: Enter on one
  posts ``OpenInConsole(text)``, which the app routes to the Inference pane.

All model reads and computations run in thread workers; results come back as messages. Nothing here
ever writes a weight.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Collapsible, DataTable, Label, ProgressBar, Select, Static, Tree
from textual.widgets.tree import TreeNode
from textual.worker import get_current_worker

from core.data.task import TaskConfig
from core.data.vocab import DIGIT_TOKENS, VOCAB
from core.probe.gradcheck_report import GradCheckReport, gradient_check
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
from core.train.report import EvaluationReport, build_report
from core.train.session import TrainingSession
from workbench.model_source import (
    CHECKPOINT_PREFIX,
    LIVE,
    SPLITS,
    ModelSource,
    ProbeModel,
    SessionModelSource,
    source_for,
)
from workbench.widgets.grids import column_histogram, grid, half_block_map, hbar
from workbench.widgets.model_picker import ModelPicker

HIST_BINS = 60
MAX_MISTAKE_ROWS = 1000
MATRIX_LINES = 12  # text lines of a weight heatmap (two matrix rows per line)
GRADCHECK_ELEMENTS = 20


class OpenInConsole(Message):
    """Show ``text`` in the Inference console, answered by ``model`` ("live" / "ck:NAME", None = as is).

    Posted by the Inspector when a mistake is chosen; the app routes it to
    ``InferencePane.run_expression(text, model)``."""

    def __init__(self, text: str, model: str | None = None) -> None:
        super().__init__()
        self.text = text
        self.model = model


class _CancelledError(Exception):
    """Raised in the gradient check's progress callback when its worker was cancelled."""


@dataclass
class ParamView:
    """What the Parameter section shows for one tensor (computed in a worker)."""

    name: str
    stats: ParamStats
    hist: Histogram
    values: np.ndarray
    origin: str  # where the numbers come from (live snapshot, model copy)


def tree_paths(names: list[tuple[str, tuple[int, ...]]]) -> dict[str, Any]:
    """Nested dict of the dotted names: leaves map to (full name, shape)."""
    root: dict[str, Any] = {}
    for name, shape in names:
        node = root
        parts = name.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = (name, shape)
    return root


def shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(s) for s in shape) or "scalar"


def _num(v: float, fmt: str = ".4g") -> str:
    return "–" if not math.isfinite(v) else format(v, fmt)


def stats_text(view: ParamView) -> Text:
    s = view.stats
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(view.name, style="bold")
    text.append(f"  shape {shape_text(s.shape)} ({s.size:,} values) · {view.origin}\n", style="dim")
    rows = [("mean", s.mean), ("std", s.std), ("min", s.min), ("max", s.max)]
    text.append("  ".join(f"{k} {_num(v)}" for k, v in rows) + "\n")
    text.append(f"‖w‖ {_num(s.norm)}  ‖∇w‖ {_num(s.grad_norm)}  update/weight {_num(s.update_ratio, '.2e')}")
    if not math.isfinite(s.grad_norm):
        text.append("  (no gradient: not a live run)", style="dim")
    if s.nonfinite or s.grad_nonfinite:
        text.append(f"\n⚠ {s.nonfinite} NaN/inf values, {s.grad_nonfinite} in the gradient (left out of the numbers)",
                    style="bold red")
    return text


def histogram_text(hist: Histogram, width: int) -> Text:
    text = Text(no_wrap=True, overflow="crop")
    text.append(f"histogram of the values ({hist.total:,} finite", style="dim")
    text.append(f", {hist.nonfinite} NaN/inf left out)\n" if hist.nonfinite else ")\n", style="dim")
    text.append_text(column_histogram(hist.counts, hist.edges, width=max(8, width), height=5))
    return text


def matrix_text(values: np.ndarray, width: int) -> Text:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim > 2:
        arr = arr.reshape(arr.shape[0], -1)
    drawing, (rows, cols) = half_block_map(arr, max(4, width), MATRIX_LINES)
    shape = arr.shape if arr.ndim == 2 else (1, arr.size)
    text = Text(no_wrap=True, overflow="crop")
    blocks = "" if (rows, cols) == tuple(shape) else (
        f", each cell the mean of ≈{math.ceil(shape[0] / rows)}×{math.ceil(shape[1] / cols)} values")
    text.append(f"heatmap {shape[0]}×{shape[1]} drawn as {rows}×{cols}{blocks}; ", style="dim")
    text.append("■", style="color(196)")
    text.append(" negative ", style="dim")
    text.append("■", style="color(21)")
    text.append(" positive\n", style="dim")
    text.append_text(drawing)
    return text


def embeddings_text(sim: SimilarityMatrix) -> Text:
    text = Text(no_wrap=True, overflow="crop")
    text.append("cos(eᵢ, eⱼ) of the digit embeddings: 1 = same direction, 0 = orthogonal, −1 = opposite\n",
                style="dim")
    text.append_text(grid(sim.matrix, sim.labels, sim.labels, cell_width=4, lo=-1.0, hi=1.0, signed=True,
                          values="signed"))
    return text


def accuracy_text(report: EvaluationReport, label: str) -> Text:
    text = Text(no_wrap=True, overflow="crop")
    wrong = len(report.mistakes)
    text.append(f"{report.split}: accuracy {report.accuracy:.2%}", style="bold")
    text.append(f" ({report.n - wrong:,}/{report.n:,}) · loss {report.loss:.4f} · {label}\n", style="dim")
    text.append("by operation\n", style="bold")
    for op, acc in report.accuracy_by_op.items():
        text.append(f"  {op:<7}")
        text.append(hbar(acc, 20), style="cyan" if acc >= 0.99 else "yellow")
        text.append(f" {acc:7.2%}\n")
    text.append("by argument count\n", style="bold")
    for n, acc in report.accuracy_by_nargs.items():
        text.append(f"  {n} args ")
        text.append(hbar(acc, 20), style="cyan" if acc >= 0.99 else "yellow")
        text.append(f" {acc:7.2%}\n")
    for w in report.warnings:
        text.append(f"⚠ {w}\n", style="yellow")
    text.rstrip()
    return text


def confusion_text(report: EvaluationReport, task: TaskConfig, width: int = 80) -> Text:
    c = report.confusion.astype(np.float64)
    text = Text(no_wrap=True, overflow="crop")
    if task.num_classes <= 10:
        text.append("confusion: rows = true answer, columns = predicted (– = no valid answer); "
                    "shade = share of the row\n", style="dim")
        totals = c.sum(axis=1, keepdims=True)
        share = np.divide(c, totals, out=np.zeros_like(c), where=totals > 0)
        cols = [str(i) for i in range(task.num_classes)] + ["–"]
        cell = min(5, max(3, (width - 4) // len(cols)))
        text.append_text(grid(c, [str(i) for i in range(task.num_classes)], cols, cell_width=cell, values="count",
                              shade=share))
        return text
    top = report.top_confusions(12)
    if not top:
        text.append("no confusions: every answer was right", style="green")
        return text
    text.append("most frequent confusions (true → predicted × count)\n", style="dim")
    for t, p, n in top:
        text.append(f"  {t:>3} → {'none' if p < 0 else p:>4}  ×{n}\n")
    text.rstrip()
    return text


class InspectorPane(Widget):
    """Weights, gradient check and evaluation of the live run (via ``source``/``get_session``) or a
    checkpoint picked at the top."""

    DEFAULT_CSS = """
    InspectorPane {
        height: 1fr;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "reload", "Refresh", tooltip="Re-read the model (the live run's current weights)"),
        Binding("g", "gradient_check", "Grad check", tooltip="Check backprop against finite differences"),
        Binding("e", "evaluate", "Evaluate", tooltip="Accuracy, confusion matrix and mistakes on a split"),
    ]

    # -- messages from the workers --------------------------------------------------------------------
    class ModelLoaded(Message):
        def __init__(self, names: list[tuple[str, tuple[int, ...]]], label: str, reason: str | None,
                     embeddings: SimilarityMatrix | None, n_params: int, probe: ProbeModel | None = None) -> None:
            super().__init__()
            self.names, self.label, self.reason = names, label, reason
            self.embeddings, self.n_params, self.probe = embeddings, n_params, probe

    class ParamLoaded(Message):
        def __init__(self, view: ParamView | None, error: str | None = None) -> None:
            super().__init__()
            self.view, self.error = view, error

    class GradCheckProgress(Message):
        def __init__(self, done: int, total: int, name: str) -> None:
            super().__init__()
            self.done, self.total, self.name = done, total, name

    class GradCheckDone(Message):
        def __init__(self, report: GradCheckReport | None, error: str | None = None) -> None:
            super().__init__()
            self.report, self.error = report, error

    class EvaluationDone(Message):
        def __init__(self, report: EvaluationReport | None, task: TaskConfig | None, label: str = "",
                     error: str | None = None) -> None:
            super().__init__()
            self.report, self.task, self.label, self.error = report, task, label, error

    def __init__(self, source: ModelSource | None = None,
                 get_session: Callable[[], TrainingSession | None] | None = None, *,
                 models_root: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        if source is None and get_session is not None:
            source = SessionModelSource(get_session)
        self.source: ModelSource = source if source is not None else SessionModelSource(lambda: None)
        self.get_session = get_session
        self.models_root = models_root
        self.choice = LIVE
        self.gradcheck_elements = GRADCHECK_ELEMENTS
        self.param_names: list[tuple[str, tuple[int, ...]]] = []
        self.selected: str | None = None
        self.param_view: ParamView | None = None
        self.embeddings: SimilarityMatrix | None = None
        self.gradcheck: GradCheckReport | None = None
        self.report: EvaluationReport | None = None
        self.report_task: TaskConfig | None = None
        self.probe: ProbeModel | None = None  # the model copy read by the Parameter section (no live session)
        self.busy: set[str] = set()  # "model", "param", "gradcheck", "evaluate" while their worker runs
        self._source_cache: ModelSource | None = None

    # -- layout -----------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="insp-bar", classes="insp-row"):
            yield Label("model ", classes="insp-label")
            yield ModelPicker(self.models_root, id="insp-model")
        yield Static("", id="insp-status")
        with Horizontal(id="insp-body"):
            yield Tree("model", id="insp-tree")
            with VerticalScroll(id="insp-detail"):
                with Collapsible(title="Parameter", collapsed=False, id="insp-param-section"):
                    yield Static("Highlight a parameter in the tree.", id="insp-param-stats")
                    yield Static("", id="insp-histogram")
                    yield Static("", id="insp-matrix")
                with Collapsible(title="Digit embeddings: cosine similarity", collapsed=False,
                                 id="insp-embed-section"):
                    yield Static("", id="insp-embeddings")
                with Collapsible(title="Gradient check (backprop vs finite differences)", collapsed=False,
                                 id="insp-gradcheck-section"):
                    with Horizontal(classes="insp-row"):
                        yield Button("Check gradients", id="insp-gradcheck-run", compact=True,
                                     tooltip="On a float64 copy, a few elements per tensor (g)")
                        yield ProgressBar(total=None, show_eta=False, id="insp-gradcheck-progress")
                    yield Static("", id="insp-gradcheck-status")
                    yield DataTable(id="insp-gradcheck-table", cursor_type="row", zebra_stripes=True)
                with Collapsible(title="Evaluation", collapsed=False, id="insp-eval-section"):
                    with Horizontal(classes="insp-row"):
                        yield Label("split ", classes="insp-label")
                        yield Select([(s, s) for s in SPLITS], value="test", allow_blank=False, compact=True,
                                     id="insp-split")
                        yield Button("Evaluate", id="insp-eval-run", compact=True,
                                     tooltip="Accuracy, confusion matrix and mistakes on this split (e)")
                    yield Static("", id="insp-eval-status")
                    yield Static("", id="insp-eval-accuracy")
                    yield Static("", id="insp-confusion")
                    yield Static("", id="insp-mistakes-title")
                    yield DataTable(id="insp-mistakes", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.query_one("#insp-gradcheck-table", DataTable).add_columns("tensor", "shape", "checked",
                                                                     "max rel. error", "result")
        self.query_one("#insp-mistakes", DataTable).add_columns("expression", "true", "model said")
        self.query_one("#insp-gradcheck-progress").display = False
        self.query_one("#insp-mistakes").display = False
        self.query_one("#insp-gradcheck-table").display = False
        self.query_one("#insp-gradcheck-status", Static).update(Text(
            "Press g (or the button) to compare each tensor's backprop gradient with finite differences.",
            style="dim"))
        self.query_one("#insp-eval-status", Static).update(Text(
            "Press e (or Evaluate) for accuracy by operation and argument count, the confusion matrix and "
            "the mistakes.", style="dim"))
        if self.choice != LIVE:
            self.query_one("#insp-model", ModelPicker).show(self.choice)
        self.reload()

    # -- the model ----------------------------------------------------------------------------------------
    def current_source(self) -> ModelSource:
        if self.choice == LIVE:
            return self.source
        if self._source_cache is None:
            self._source_cache = source_for(self.choice, self.source, self.models_root)
        return self._source_cache

    def current_session(self) -> TrainingSession | None:
        """The live session whose parameters are read directly (copies under its lock), if any."""
        if self.choice != LIVE:
            return None
        getter = self.get_session
        if getter is None and isinstance(self.source, SessionModelSource):
            getter = self.source.get_session
        if getter is None:
            return None
        try:
            return getter()
        except Exception:
            return None

    def pick(self, choice: str) -> None:
        """Inspect ``choice`` ("live" or "ck:NAME") from now on."""
        if choice != LIVE and not choice.startswith(CHECKPOINT_PREFIX):
            choice = f"{CHECKPOINT_PREFIX}{choice}"
        self.choice = choice
        self._source_cache = None
        if self.is_mounted:  # else on_mount shows it and loads
            self.query_one("#insp-model", ModelPicker).show(choice)
            self.reload()

    @on(Select.Changed, "#insp-model")
    def _model_changed(self, event: Select.Changed) -> None:
        event.stop()
        if isinstance(event.value, str) and event.value != self.choice:
            self.pick(event.value)

    def action_reload(self) -> None:
        self.reload()

    def reload(self) -> None:
        """Re-read the model's parameter list, the highlighted parameter and the embeddings."""
        self.busy.add("model")
        self._status(Text("reading the model…", style="dim"))
        self._load_model(self.current_source(), self.current_session())

    @work(thread=True, exclusive=True, group="inspector-model", exit_on_error=False)
    def _load_model(self, source: ModelSource, session: TrainingSession | None) -> None:
        try:
            if session is not None:
                params = session.run.model.params  # names and shapes never change
                names = [(p.name, tuple(p.shape)) for p in params]
                snap = session.parameter("embed.weight")
                sim = SimilarityMatrix(cosine_similarity(snap.value[[VOCAB.id_of(t) for t in DIGIT_TOKENS]]),
                                       list(DIGIT_TOKENS))
                label = f"live run · step {session.run.step:,} · {session.state}"
                self.post_message(self.ModelLoaded(names, label, None, sim, params.num_parameters))
                return
            probe = source.live()
            if isinstance(probe, str):
                self.post_message(self.ModelLoaded([], "", probe, None, 0))
                return
            names = [(p.name, tuple(p.shape)) for p in probe.model.params]
            self.post_message(self.ModelLoaded(names, probe.label, None, embedding_similarity(probe.model),
                                               probe.model.num_parameters, probe))
        except Exception as exc:
            self.post_message(self.ModelLoaded([], "", f"cannot read the model: {type(exc).__name__}: {exc}",
                                               None, 0))

    @on(ModelLoaded)
    def _model_loaded(self, event: ModelLoaded) -> None:
        self.busy.discard("model")
        self.probe = event.probe
        tree = self.query_one("#insp-tree", Tree)
        same = [n for n, _ in event.names] == [n for n, _ in self.param_names]
        self.param_names = event.names
        if event.reason:
            self._status(Text(f"✗ {event.reason}", style="bold yellow"))
            tree.clear()
            tree.root.set_label("no model")
            self.param_names, self.param_view, self.embeddings = [], None, None
            for widget_id in ("#insp-histogram", "#insp-matrix", "#insp-embeddings"):
                self.query_one(widget_id, Static).update("")
            self.query_one("#insp-param-stats", Static).update(Text(event.reason, style="dim"))
            return
        self._status(Text(f"{event.label} · {event.n_params:,} parameters · r refreshes", style="dim"))
        self.embeddings = event.embeddings
        if event.embeddings is not None:
            self.query_one("#insp-embeddings", Static).update(embeddings_text(event.embeddings))
        if not same:
            self._build_tree(tree, event.names, event.n_params)
        if self.selected not in {n for n, _ in event.names}:
            self.selected = event.names[0][0] if event.names else None
        if self.selected:
            self.show_parameter(self.selected)

    def _build_tree(self, tree: Tree[str], names: list[tuple[str, tuple[int, ...]]], n_params: int) -> None:
        tree.clear()
        tree.root.set_label(f"model · {n_params:,} parameters")
        tree.root.data = None

        def add(node: TreeNode[str], sub: dict[str, Any]) -> None:
            for key, value in sub.items():
                if isinstance(value, dict):
                    add(node.add(key, expand=True), value)
                else:
                    full, shape = value
                    node.add_leaf(Text.assemble(key, (f"  {shape_text(shape)}", "dim")), data=full)

        add(tree.root, tree_paths(names))
        tree.root.expand()

    def _status(self, text: Text) -> None:
        self.query_one("#insp-status", Static).update(text)

    # -- one parameter ------------------------------------------------------------------------------------
    @on(Tree.NodeHighlighted, "#insp-tree")
    def _node_highlighted(self, event: Tree.NodeHighlighted[str]) -> None:
        name = event.node.data
        if name and not (name == self.selected and self.param_view is not None and self.param_view.name == name):
            self.show_parameter(name)

    def _leaf(self, name: str) -> TreeNode[str] | None:
        tree = self.query_one("#insp-tree", Tree)
        stack = [tree.root]
        while stack:
            node = stack.pop()
            if node.data == name:
                return node
            stack.extend(node.children)
        return None

    def show_parameter(self, name: str) -> None:
        """Show the statistics, histogram and heatmap of parameter ``name`` (read in a worker)."""
        self.selected = name
        node = self._leaf(name)
        tree = self.query_one("#insp-tree", Tree)
        if node is not None and tree.cursor_node is not node:
            self.call_after_refresh(tree.move_cursor, node)
        self.busy.add("param")
        self._load_param(name, self.current_session(), self.probe)

    @work(thread=True, exclusive=True, group="inspector-param", exit_on_error=False)
    def _load_param(self, name: str, session: TrainingSession | None, probe: ProbeModel | None) -> None:
        try:
            if session is not None:
                snap = session.parameter(name)  # copies, under the session lock
                view = ParamView(name, snapshot_stats(snap), histogram(snap.value, HIST_BINS), snap.value,
                                 f"live, step {session.run.step:,}")
            elif probe is not None:
                values = probe.model.params[name].value.copy()
                view = ParamView(name, parameter_stats(values), histogram(values, HIST_BINS), values, probe.label)
            else:
                self.post_message(self.ParamLoaded(None, "no model to read"))
                return
        except Exception as exc:
            self.post_message(self.ParamLoaded(None, f"cannot read {name}: {type(exc).__name__}: {exc}"))
            return
        self.post_message(self.ParamLoaded(view))

    @on(ParamLoaded)
    def _param_loaded(self, event: ParamLoaded) -> None:
        self.busy.discard("param")
        stats = self.query_one("#insp-param-stats", Static)
        if event.view is None:
            stats.update(Text(f"✗ {event.error}", style="red"))
            return
        if event.view.name != self.selected:
            return  # a newer highlight is on its way
        self.param_view = event.view
        self._render_param()

    def _detail_width(self) -> int:
        """Columns available to a drawing in the detail column (padding, indent and scrollbar taken off)."""
        width = self.query_one("#insp-detail").size.width
        return max(20, (width or 60) - 8)

    def _render_param(self) -> None:
        view = self.param_view
        if view is None:
            return
        width = self._detail_width()
        self.query_one("#insp-param-stats", Static).update(stats_text(view))
        self.query_one("#insp-histogram", Static).update(histogram_text(view.hist, min(width, HIST_BINS)))
        matrix = self.query_one("#insp-matrix", Static)
        matrix.update(matrix_text(view.values, width))

    def _render_confusion(self) -> None:
        if self.report is not None and self.report_task is not None:
            self.query_one("#insp-confusion", Static).update(
                confusion_text(self.report, self.report_task, self._detail_width()))

    def on_resize(self) -> None:
        self.set_class(self.size.width < 100, "-narrow")
        self.call_after_refresh(self._render_param)
        self.call_after_refresh(self._render_confusion)

    # -- gradient check -----------------------------------------------------------------------------------
    @on(Button.Pressed, "#insp-gradcheck-run")
    def action_gradient_check(self) -> None:
        """Run the gradient check on a copy of the model, in a thread."""
        self.busy.add("gradcheck")
        bar = self.query_one("#insp-gradcheck-progress", ProgressBar)
        bar.display = True
        bar.update(total=None, progress=0)
        self.query_one("#insp-gradcheck-status", Static).update(Text("checking…", style="dim"))
        self._gradient_check(self.current_source(), self.gradcheck_elements)

    @work(thread=True, exclusive=True, group="inspector-gradcheck", exit_on_error=False)
    def _gradient_check(self, source: ModelSource, elements: int) -> None:
        worker = get_current_worker()
        try:
            probe = source.live()
            if isinstance(probe, str):
                self.post_message(self.GradCheckDone(None, probe))
                return

            def progress(done: int, total: int, name: str) -> None:
                if worker.is_cancelled:
                    raise _CancelledError
                self.post_message(self.GradCheckProgress(done, total, name))

            report = gradient_check(probe.model, task=probe.task, max_elements_per_tensor=elements, progress=progress)
        except _CancelledError:
            return
        except Exception as exc:
            self.post_message(self.GradCheckDone(None, f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(self.GradCheckDone(report))

    @on(GradCheckProgress)
    def _gradcheck_progress(self, event: GradCheckProgress) -> None:
        self.query_one("#insp-gradcheck-progress", ProgressBar).update(total=event.total, progress=event.done)
        self.query_one("#insp-gradcheck-status", Static).update(
            Text(f"checking {event.done}/{event.total}: {event.name}", style="dim"))

    @on(GradCheckDone)
    def _gradcheck_done(self, event: GradCheckDone) -> None:
        self.busy.discard("gradcheck")
        self.query_one("#insp-gradcheck-progress").display = False
        status = self.query_one("#insp-gradcheck-status", Static)
        report = event.report
        if report is None:
            status.update(Text(f"✗ {event.error}", style="bold red"))
            return
        self.gradcheck = report
        table = self.query_one("#insp-gradcheck-table", DataTable)
        table.clear()
        for row in report.rows:
            result = Text("pass", style="green") if row.passed else Text("FAIL", style="bold red")
            table.add_row(row.name, shape_text(row.shape), f"{row.checked}/{row.size:,}",
                          f"{row.max_rel_error:.2e}", result, key=row.name)
        table.display = True
        verdict = ("all tensors pass" if report.passed else
                   f"{sum(not r.passed for r in report.rows)} tensor(s) above the tolerance")
        status.update(Text.assemble(
            ("✓ " if report.passed else "✗ ", "bold green" if report.passed else "bold red"),
            f"{verdict}: worst relative error {report.max_error:.2e} (tolerance {report.tolerance:.0e}) · "
            f"{report.n_checked:,} elements, batch of {report.batch_size}, {report.seconds:.1f} s",
        ))

    # -- evaluation -----------------------------------------------------------------------------------------
    @on(Button.Pressed, "#insp-eval-run")
    def action_evaluate(self) -> None:
        """Evaluate the model on the chosen split (in a thread)."""
        split = self.query_one("#insp-split", Select).value
        split = split if isinstance(split, str) else "test"
        self.busy.add("evaluate")
        self.query_one("#insp-eval-status", Static).update(Text(f"evaluating on the {split} split…", style="dim"))
        self._evaluate(self.current_source(), split)

    @work(thread=True, exclusive=True, group="inspector-evaluate", exit_on_error=False)
    def _evaluate(self, source: ModelSource, split_name: str) -> None:
        try:
            probe = source.live()
            if isinstance(probe, str):
                self.post_message(self.EvaluationDone(None, None, error=probe))
                return
            split = source.evaluation_split(split_name)
            if isinstance(split, str):
                self.post_message(self.EvaluationDone(None, None, error=split))
                return
            report = build_report(probe.model, probe.task, split_name, split)
        except Exception as exc:
            self.post_message(self.EvaluationDone(None, None, error=f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(self.EvaluationDone(report, probe.task, probe.label))

    @on(EvaluationDone)
    def _evaluation_done(self, event: EvaluationDone) -> None:
        self.busy.discard("evaluate")
        status = self.query_one("#insp-eval-status", Static)
        if event.report is None or event.task is None:
            status.update(Text(f"✗ {event.error}", style="bold red"))
            return
        report = self.report = event.report
        self.report_task = event.task
        status.update("")
        self.query_one("#insp-eval-accuracy", Static).update(accuracy_text(report, event.label))
        self._render_confusion()
        table = self.query_one("#insp-mistakes", DataTable)
        table.clear()
        for i, m in enumerate(report.mistakes[:MAX_MISTAKE_ROWS]):
            table.add_row(m.expression, str(m.truth), "no answer" if m.predicted < 0 else str(m.predicted), key=str(i))
        n = len(report.mistakes)
        shown = f" (first {MAX_MISTAKE_ROWS:,})" if n > MAX_MISTAKE_ROWS else ""
        title = (f"{n:,} mistake{'s' if n != 1 else ''}{shown} — Enter opens one in the Inference console"
                 if n else "no mistakes on this split")
        self.query_one("#insp-mistakes-title", Static).update(Text(title, style="bold" if n else "green"))
        table.display = n > 0

    @on(DataTable.RowSelected, "#insp-mistakes")
    def _mistake_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if self.report is None:
            return
        index = int(str(event.row_key.value))
        if 0 <= index < len(self.report.mistakes):
            self.post_message(OpenInConsole(self.report.mistakes[index].expression, self.choice))

    # -- for tests and the app ---------------------------------------------------------------------------
    def focus_default(self) -> None:
        """Focus the parameter tree (so the pane's keys r/g/e work and show in the footer)."""
        self.query_one("#insp-tree", Tree).focus()

    @property
    def idle(self) -> bool:
        return not self.busy
