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
  posts ``OpenInConsole(text)``, which the app routes to the Inference pane;
* **Counterexamples** — ``core.probe.counterexamples`` on a copy of the model (x, or the button beside
  Evaluate): the regions of inputs people type first (small numbers, ties, sorted, …) where the model is
  below 99%, which a test split drawn like the training data can hide; Enter on a failing example opens
  it in the Inference console too (``workbench.widgets.counterexample_view``).

Picking another model clears the gradient check of the previous one (a check still running is
cancelled) and labels a shown evaluation as the previous model's; each result names the model it is
of. Results that may land below the fold (gradient check, evaluation, counterexamples) scroll their
section into view, and so does the Parameter section when a parameter is chosen in the tree.

All model reads and computations run in thread workers (``workbench.probes``); results come back as
messages. The text is drawn by ``workbench.render.params`` and ``workbench.render.evaluation``. Nothing
here ever writes a weight.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Collapsible, DataTable, Label, Select, Static, Tree
from textual.worker import get_current_worker

from core.data.task import TaskConfig
from core.probe.counterexamples import DEFAULT_PER_REGION, DEFAULT_THRESHOLD
from core.probe.gradcheck_report import GradCheckReport
from core.probe.inspection import HIST_BINS, ParamNames, ParamView, mistake_rows
from core.probe.param_stats import SimilarityMatrix
from core.train.report import EvaluationReport
from core.train.session import TrainingSession
from workbench.model_source import SPLITS, ModelChoice, ModelSource, ProbeModel
from workbench.probes import (
    Evaluation,
    LoadedModel,
    ProbeCancelledError,
    check_gradients,
    evaluate,
    load_model,
    load_param,
)
from workbench.render.evaluation import accuracy_text, confusion_text, mistakes_title
from workbench.render.params import embeddings_text, histogram_text, matrix_text, stats_text
from workbench.widgets.counterexample_view import CounterexampleSearch, CounterexampleView, search
from workbench.widgets.gradcheck_view import GradCheckView
from workbench.widgets.model_chooser import ModelChooser
from workbench.widgets.param_tree import ParamTree

MAX_MISTAKE_ROWS = 1000
GRADCHECK_ELEMENTS = 20

__all__ = ["GRADCHECK_ELEMENTS", "MAX_MISTAKE_ROWS", "InspectorPane", "OpenInConsole"]


class OpenInConsole(Message):
    """Show ``text`` in the Inference console, answered by ``model`` ("live" / "ck:NAME", None = as is).

    Posted by the Inspector when a mistake is chosen; the app routes it to
    ``InferencePane.run_expression(text, model)``."""

    def __init__(self, text: str, model: str | None = None) -> None:
        super().__init__()
        self.text = text
        self.model = model


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
        Binding("x", "counterexamples", "Counterexamples",
                tooltip="Find the input regions (small numbers, ties, sorted, …) where the model is weak"),
    ]

    # -- messages from the workers --------------------------------------------------------------------
    class ModelLoaded(Message):
        def __init__(self, loaded: LoadedModel | None, reason: str | None = None) -> None:
            super().__init__()
            self.loaded, self.reason = loaded, reason

    class ParamLoaded(Message):
        def __init__(self, view: ParamView | None, error: str | None = None) -> None:
            super().__init__()
            self.view, self.error = view, error

    class GradCheckProgress(Message):
        def __init__(self, done: int, total: int, name: str) -> None:
            super().__init__()
            self.done, self.total, self.name = done, total, name

    class GradCheckDone(Message):
        """The check's report (or why there is none), for the model ``choice`` it ran on."""

        def __init__(self, report: GradCheckReport | None, error: str | None = None, choice: str = "") -> None:
            super().__init__()
            self.report, self.error, self.choice = report, error, choice

    class EvaluationDone(Message):
        def __init__(self, evaluation: Evaluation | None, error: str | None = None, choice: str = "") -> None:
            super().__init__()
            self.evaluation, self.error, self.choice = evaluation, error, choice

    class CounterexamplesDone(Message):
        """The search's result (or why there is none), for the model ``choice`` it ran on."""

        def __init__(self, result: CounterexampleSearch | str, choice: str) -> None:
            super().__init__()
            self.result, self.choice = result, choice

    def __init__(self, source: ModelSource | None = None,
                 get_session: Callable[[], TrainingSession | None] | None = None, *,
                 models_root: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.models = ModelChoice(source, models_root, get_session)
        self.source: ModelSource = self.models.live
        self.get_session = get_session
        self.models_root = models_root
        self.gradcheck_elements = GRADCHECK_ELEMENTS
        # the counterexample search's options (the CLI's defaults; tests set a small per_region)
        self.cx_threshold = DEFAULT_THRESHOLD
        self.cx_per_region = DEFAULT_PER_REGION
        self.cx_seed = 0
        self.cx: CounterexampleSearch | None = None
        self.cx_choice: str | None = None  # the model the shown search ran on (its failures open on it)
        self.param_names: ParamNames = []
        self.selected: str | None = None
        self.param_view: ParamView | None = None
        self.embeddings: SimilarityMatrix | None = None
        self.gradcheck: GradCheckReport | None = None
        self.report: EvaluationReport | None = None
        self.report_task: TaskConfig | None = None
        self.report_choice: str | None = None  # the model the shown evaluation is of (its mistakes open on it)
        self.report_label = ""
        self.model_label = ""  # the label of the model shown (e.g. "encoder-digits · step 9,390")
        self.probe: ProbeModel | None = None  # the model copy read by the Parameter section (no live session)
        self.busy: set[str] = set()  # "model", "param", "gradcheck", "evaluate", "counterexamples" while running
        self._placed_node: object | None = None  # a tree node the program (not the user) moved the cursor to

    # -- layout -----------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="insp-bar", classes="insp-row"):
            yield Label("model ", classes="insp-label")
            yield ModelChooser(self.models_root, self.choice, id="insp-model")
        yield Static("", id="insp-status")
        with Horizontal(id="insp-body"):
            yield ParamTree("model", id="insp-tree")
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
                    yield GradCheckView("insp", id="insp-gradcheck")
                with Collapsible(title="Evaluation", collapsed=False, id="insp-eval-section"):
                    with Horizontal(classes="insp-row"):
                        yield Label("split ", classes="insp-label")
                        yield Select([(s, s) for s in SPLITS], value="test", allow_blank=False, compact=True,
                                     id="insp-split")
                        yield Button("Evaluate", id="insp-eval-run", compact=True,
                                     tooltip="Accuracy, confusion matrix and mistakes on this split (e)")
                        yield Button("Counterexamples", id="insp-cx-run", compact=True,
                                     tooltip="Regions of inputs people type where the model is below 99% (x)")
                    yield Static("", id="insp-eval-status")
                    yield Static("", id="insp-eval-accuracy")
                    yield Static("", id="insp-confusion")
                    yield Static("", id="insp-mistakes-title")
                    yield DataTable(id="insp-mistakes", cursor_type="row", zebra_stripes=True)
                with Collapsible(title="Counterexamples: where the model is weak", collapsed=False,
                                 id="insp-cx-section"):
                    yield CounterexampleView(id="insp-cx-view")

    def on_mount(self) -> None:
        self.query_one("#insp-mistakes", DataTable).add_columns("expression", "true", "model said")
        self.query_one("#insp-mistakes").display = False
        self.query_one("#insp-eval-status", Static).update(Text(
            "Press e (or Evaluate) for accuracy by operation and argument count, the confusion matrix and "
            "the mistakes.", style="dim"))
        self.reload()

    @property
    def param_tree(self) -> ParamTree:
        return self.query_one("#insp-tree", ParamTree)

    # -- the model ----------------------------------------------------------------------------------------
    @property
    def choice(self) -> str:
        """The model inspected: ``"live"`` or ``"ck:NAME"``."""
        return self.models.choice

    def current_source(self) -> ModelSource:
        return self.models.source()

    def current_session(self) -> TrainingSession | None:
        """The live session whose parameters are read directly (copies under its lock), if any."""
        return self.models.session()

    def pick(self, choice: str) -> None:
        """Inspect ``choice`` ("live" or "ck:NAME") from now on."""
        previous = self.choice
        choice = self.models.pick(choice)
        if self.is_mounted:  # else on_mount shows it and loads
            self.query_one("#insp-model", ModelChooser).choice = choice
            if choice != previous:
                self._forget_model_results()
            self.reload()

    def _forget_model_results(self) -> None:
        """Another model was picked: the gradient check of the previous one goes (a running one is
        cancelled), and a shown evaluation says whose it is."""
        view = self.query_one(GradCheckView)
        if view.report is not None or "gradcheck" in self.busy:
            old = view.label or "the previous model"
            self.workers.cancel_group(self, "inspector-gradcheck")
            self.busy.discard("gradcheck")
            self.gradcheck = None
            view.reset(f"(The check of {old} was cleared: another model is picked.)")
        if self.report is not None and self.report_choice != self.choice:
            self.query_one("#insp-eval-status", Static).update(Text(
                f"The results below are of {self.report_label or 'the previous model'}: press e to evaluate "
                "the model picked now.", style="bold yellow"))

    @on(ModelChooser.Chosen, "#insp-model")
    def _model_chosen(self, event: ModelChooser.Chosen) -> None:
        event.stop()
        if event.choice != self.choice:
            self.pick(event.choice)

    def action_reload(self) -> None:
        self.reload()

    def reload(self) -> None:
        """Re-read the model's parameter list, the highlighted parameter and the embeddings."""
        self.busy.add("model")
        self._status(Text("reading the model…", style="dim"))
        self._load_model(self.current_source(), self.current_session())

    @work(thread=True, exclusive=True, group="inspector-model", exit_on_error=False)
    def _load_model(self, source: ModelSource, session: TrainingSession | None) -> None:
        loaded = load_model(source, session)
        if isinstance(loaded, str):
            self.post_message(self.ModelLoaded(None, loaded))
        else:
            self.post_message(self.ModelLoaded(loaded))

    @on(ModelLoaded)
    def _model_loaded(self, event: ModelLoaded) -> None:
        self.busy.discard("model")
        loaded = event.loaded
        self.probe = None if loaded is None else loaded.probe
        if loaded is None:
            self._status(Text(f"✗ {event.reason}", style="bold yellow"))
            self.param_tree.show_none()
            self.param_names, self.param_view, self.embeddings = [], None, None
            for widget_id in ("#insp-histogram", "#insp-matrix", "#insp-embeddings"):
                self.query_one(widget_id, Static).update("")
            self.query_one("#insp-param-stats", Static).update(Text(event.reason or "", style="dim"))
            return
        summary = loaded.summary
        self.model_label = summary.label
        same = [n for n, _ in summary.names] == [n for n, _ in self.param_names]
        self.param_names = summary.names
        self._status(Text(f"{summary.label} · {summary.n_params:,} parameters · r refreshes", style="dim"))
        self.embeddings = summary.embeddings
        if summary.embeddings is not None:
            self.query_one("#insp-embeddings", Static).update(embeddings_text(summary.embeddings))
        if not same:
            self.param_tree.show(summary.names, summary.n_params)
        if self.selected not in {n for n, _ in summary.names}:
            self.selected = summary.names[0][0] if summary.names else None
        if self.selected:
            self.show_parameter(self.selected)

    def _status(self, text: Text) -> None:
        self.query_one("#insp-status", Static).update(text)

    # -- one parameter ------------------------------------------------------------------------------------
    @on(Tree.NodeHighlighted, "#insp-tree")
    def _node_highlighted(self, event: Tree.NodeHighlighted[str]) -> None:
        name = event.node.data
        if name and not (name == self.selected and self.param_view is not None and self.param_view.name == name):
            self.show_parameter(name)
        placed, self._placed_node = self._placed_node is event.node, None
        if name and self.param_tree.has_focus and not placed:  # the user moved to a parameter: show its section
            self.show_section("#insp-param-section")

    @on(Tree.NodeSelected, "#insp-tree")
    def _node_selected(self, event: Tree.NodeSelected[str]) -> None:
        if event.node.data:
            self.show_section("#insp-param-section")

    def show_section(self, selector: str) -> None:
        """Scroll the detail column so the section ``selector`` starts at its top (after the next
        refresh, once its new content is laid out)."""
        section = self.query_one(selector, Collapsible)
        section.collapsed = False
        self.call_after_refresh(section.scroll_visible, top=True, animate=False)

    def show_parameter(self, name: str) -> None:
        """Show the statistics, histogram and heatmap of parameter ``name`` (read in a worker)."""
        self.selected = name
        tree = self.param_tree
        node = tree.leaf(name)
        if node is not None and tree.cursor_node is not node:
            # the program's move, not the user's: its highlight must not scroll the detail column (a section
            # the user opened meanwhile, such as the counterexamples, would be scrolled away)
            self._placed_node = node
            self.call_after_refresh(tree.move_cursor, node)
        self.busy.add("param")
        self._load_param(name, self.current_session(), self.probe)

    @work(thread=True, exclusive=True, group="inspector-param", exit_on_error=False)
    def _load_param(self, name: str, session: TrainingSession | None, probe: ProbeModel | None) -> None:
        view = load_param(name, session, probe, HIST_BINS)
        self.post_message(self.ParamLoaded(None, view) if isinstance(view, str) else self.ParamLoaded(view))

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
        self.query_one("#insp-matrix", Static).update(matrix_text(view.values, width))

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
        self.query_one(GradCheckView).started(self.model_label or self.choice.removeprefix("ck:"))
        self.show_section("#insp-gradcheck-section")  # g from the tree: the section may be below the fold
        self._gradient_check(self.current_source(), self.gradcheck_elements, self.choice)

    @work(thread=True, exclusive=True, group="inspector-gradcheck", exit_on_error=False)
    def _gradient_check(self, source: ModelSource, elements: int, choice: str) -> None:
        worker = get_current_worker()

        def progress(done: int, total: int, name: str) -> None:
            if worker.is_cancelled:
                raise ProbeCancelledError
            self.post_message(self.GradCheckProgress(done, total, name))

        report = check_gradients(source, elements, progress)
        if report is None:  # cancelled
            return
        if worker.is_cancelled:  # another model was picked meanwhile
            return
        self.post_message(self.GradCheckDone(None, report, choice) if isinstance(report, str)
                          else self.GradCheckDone(report, None, choice))

    @on(GradCheckProgress)
    def _gradcheck_progress(self, event: GradCheckProgress) -> None:
        if "gradcheck" in self.busy:  # not a cancelled check's last word
            self.query_one(GradCheckView).progress(event.done, event.total, event.name)

    @on(GradCheckDone)
    def _gradcheck_done(self, event: GradCheckDone) -> None:
        if event.choice and event.choice != self.choice:
            return  # a check of a model no longer shown
        self.busy.discard("gradcheck")
        view = self.query_one(GradCheckView)
        if event.report is None:
            view.failed(event.error)
            return
        self.gradcheck = event.report
        view.finished(event.report)

    # -- evaluation -----------------------------------------------------------------------------------------
    @on(Button.Pressed, "#insp-eval-run")
    def action_evaluate(self) -> None:
        """Evaluate the model on the chosen split (in a thread)."""
        split = self.query_one("#insp-split", Select).value
        split = split if isinstance(split, str) else "test"
        self.busy.add("evaluate")
        label = self.model_label or self.choice.removeprefix("ck:")
        self.query_one("#insp-eval-status", Static).update(
            Text(f"evaluating {label} on the {split} split…", style="dim"))
        self.show_section("#insp-eval-section")  # e from the tree: the section may be below the fold
        self._evaluate(self.current_source(), split, self.choice)

    @work(thread=True, exclusive=True, group="inspector-evaluate", exit_on_error=False)
    def _evaluate(self, source: ModelSource, split_name: str, choice: str) -> None:
        result = evaluate(source, split_name)
        self.post_message(self.EvaluationDone(None, result, choice) if isinstance(result, str)
                          else self.EvaluationDone(result, None, choice))

    @on(EvaluationDone)
    def _evaluation_done(self, event: EvaluationDone) -> None:
        self.busy.discard("evaluate")
        status = self.query_one("#insp-eval-status", Static)
        if event.evaluation is None:
            status.update(Text(f"✗ {event.error}", style="bold red"))
            self.show_section("#insp-eval-section")
            return
        report = self.report = event.evaluation.report
        self.report_task = event.evaluation.task
        self.report_choice, self.report_label = event.choice or self.choice, event.evaluation.label
        status.update(Text.assemble(("✓ ", "bold green"), (
            f"evaluated {event.evaluation.label} on the {report.split} split: accuracy {report.accuracy:.2%}, "
            f"{len(report.mistakes):,} mistakes", "")))
        self.show_section("#insp-eval-section")  # the results, in view (they may be below the fold)
        self.query_one("#insp-eval-accuracy", Static).update(accuracy_text(report, event.evaluation.label))
        self._render_confusion()
        table = self.query_one("#insp-mistakes", DataTable)
        table.clear()
        for i, row in enumerate(mistake_rows(report, MAX_MISTAKE_ROWS)):
            table.add_row(*row, key=str(i))
        n = len(report.mistakes)
        self.query_one("#insp-mistakes-title", Static).update(mistakes_title(n, MAX_MISTAKE_ROWS))
        table.display = n > 0

    @on(DataTable.RowSelected, "#insp-mistakes")
    def _mistake_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if self.report is None:
            return
        index = int(str(event.row_key.value))
        if 0 <= index < len(self.report.mistakes):
            self.post_message(OpenInConsole(self.report.mistakes[index].expression, self.report_choice or self.choice))

    # -- counterexamples -------------------------------------------------------------------------------------
    @on(Button.Pressed, "#insp-cx-run")
    def action_counterexamples(self) -> None:
        """Search the input regions for weak ones (in a thread, on a copy of the model: the search's
        forwards overwrite the model's caches, and the live run may resume meanwhile)."""
        self.busy.add("counterexamples")
        self.query_one(CounterexampleView).started(self.cx_per_region)
        self.query_one("#insp-cx-section", Collapsible).collapsed = False
        self.call_after_refresh(self.query_one("#insp-cx-section").scroll_visible, top=True, animate=False)
        self._counterexamples(self.current_source(), self.choice, self.cx_threshold, self.cx_per_region,
                              self.cx_seed)

    @work(thread=True, exclusive=True, group="inspector-counterexamples", exit_on_error=False)
    def _counterexamples(self, source: ModelSource, choice: str, threshold: float, per_region: int,
                         seed: int) -> None:
        # The search cannot be interrupted; a newer search (exclusive) cancels this worker, and then
        # its now stale result is dropped rather than shown over the newer one's.
        result = search(source, threshold, per_region, seed)
        if not get_current_worker().is_cancelled:
            self.post_message(self.CounterexamplesDone(result, choice))

    @on(CounterexamplesDone)
    def _counterexamples_done(self, event: CounterexamplesDone) -> None:
        self.busy.discard("counterexamples")
        view = self.query_one(CounterexampleView)
        if isinstance(event.result, str):
            view.failed(event.result)
            return
        self.cx, self.cx_choice = event.result, event.choice
        view.finished(event.result)
        view.pinned = True
        self.call_after_refresh(self.query_one("#insp-cx-section").scroll_visible, top=True, animate=False)
        if event.result.report.weak and self.app.focused in (None, self.param_tree, self.query_one("#insp-cx-run")):
            view.table.focus()  # focus still where x was pressed: Enter now walks weak region → failure → console

    @on(CounterexampleView.Grew)
    def _counterexamples_grew(self) -> None:
        self.query_one("#insp-cx-section").scroll_visible(top=True, animate=False)

    def on_key(self) -> None:
        self.query_one(CounterexampleView).pinned = False  # the user takes over the column

    def on_mouse_scroll_down(self) -> None:
        self.query_one(CounterexampleView).pinned = False

    def on_mouse_scroll_up(self) -> None:
        self.query_one(CounterexampleView).pinned = False

    @on(CounterexampleView.FailureChosen)
    def _counterexample_chosen(self, event: CounterexampleView.FailureChosen) -> None:
        event.stop()
        self.post_message(OpenInConsole(event.expression, self.cx_choice or self.choice))

    # -- for tests and the app ---------------------------------------------------------------------------
    def focus_default(self) -> None:
        """Focus the parameter tree (so the pane's keys r/g/e/x work and show in the footer)."""
        self.param_tree.focus()

    @property
    def idle(self) -> bool:
        return not self.busy
