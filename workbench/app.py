"""The interactive workbench: a Textual app with Learn, Dataset, Training, Inference and Inspector panes.

``run_app()`` is what ``workbench`` (no arguments), ``workbench app`` and ``python -m workbench`` open.
The App owns the state: the dataset the next run uses and the ``SessionController`` that holds the
training session. Keys, the command palette and buttons all go through the same actions; panes show
what they are given (attributes down) and tell the App what the user asked for (messages up); the
controller and its workers report through the messages of ``workbench.messages``. The App also guards
the end: quitting with an unsaved run offers to save, and every training worker is stopped before the
process can exit — it is a non-daemon thread, so a forgotten one would keep the terminal hanging.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import PurePath
from typing import ClassVar

from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import Header, TabbedContent, TabPane, Tabs

from core.data.dataset import Dataset
from core.errors import ConfigError
from core.optim.config import OptimizerConfig
from core.process import tune_for_training
from core.train.session import TrainingSession
from workbench.commands import WorkbenchCommands
from workbench.header_throttle import HeaderThrottle, fit_summary, header_summary
from workbench.learn_progress import first_visit
from workbench.messages import (
    CheckpointSaved,
    DatasetAdopted,
    EditApplied,
    Notice,
    RunFailed,
    RunReady,
    SaveFailed,
    SessionUpdated,
    UntilMet,
)
from workbench.model_source import SessionModelSource
from workbench.panes.dataset import DatasetPane
from workbench.panes.inference import InferencePane
from workbench.panes.inspector import InspectorPane, OpenInConsole
from workbench.panes.lab import LabPane
from workbench.panes.learn import LearnPane
from workbench.panes.runs import RunsPane
from workbench.panes.training import TrainingPane
from workbench.screens.explain import EXPLAIN_KEY, open_explanation
from workbench.screens.help import HelpScreen
from workbench.screens.load_checkpoint import LoadCheckpointScreen
from workbench.screens.quit import QuitScreen
from workbench.screens.save_checkpoint import SaveCheckpointScreen
from workbench.session_controller import SessionController, Then
from workbench.steering import parse_pace
from workbench.styles import STYLES
from workbench.view_links import open_view
from workbench.widgets.footer import WorkbenchFooter
from workbench.widgets.live_cell import LiveCellView
from workbench.widgets.steer_bar import SteerBar

PANES: tuple[tuple[str, str, str], ...] = (("learn", "Learn", "f10"), ("dataset", "Dataset", "f2"),
                                           ("training", "Training", "f3"), ("inference", "Inference", "f4"),
                                           ("inspector", "Inspector", "f5"), ("lab", "Lab", "f11"),
                                           ("runs", "Runs", "ctrl+f"))
#: panes that focus a widget of their own when shown
FOCUS_INSIDE = ("learn", "inference", "inspector", "lab", "runs")
#: panes composed the first time they are shown (``ensure_pane``), not at start: most of an app start's
#: time went to building them (measured 4.0 s → 2.1 s per start for the last four; the Dataset pane was
#: another third of what was left), and most visits never open all of them. The state they show is the
#: App's (``dataset``, the controller's run), so a pane built late shows what an early one would.
#: The Learn and Training panes are always there.
LAZY_PANES = ("dataset", "inference", "inspector", "lab", "runs")
#: Actions that act on the run or open dialogs: refused while a dialog is open.
HEADER_INTERVAL = 2.0  # s between header updates while running (each one is a layout pass of the screen)
_MAIN_SCREEN_ACTIONS = {"start", "new_run", "pause", "toggle_run", "step", "epoch", "stop", "save", "load",
                        "dataset", "show_pane", "show_chart", "toggle_config", "help", "explain"}


class WorkbenchApp(App[int]):
    """llmlearn workbench. Function keys and ctrl combinations are priority bindings, so they work
    while a text field has focus (an Input would otherwise swallow letters)."""

    TITLE = "llmlearn workbench"
    # Absolute, so that subclasses defined elsewhere (tests, benchmarks) find the styles too.
    CSS_PATH: ClassVar[list[str | PurePath]] = [STYLES / "app.tcss", STYLES / "dataset.tcss",
                                                STYLES / "training.tcss", STYLES / "inference.tcss",
                                                STYLES / "inspector.tcss", STYLES / "learn.tcss",
                                                STYLES / "lab.tcss", STYLES / "runs.tcss"]
    COMMANDS = App.COMMANDS | {WorkbenchCommands}
    # Textual declares these as ``ClassVar[...] | None``, which mypy reads as an instance variable.
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (120, "-wide")]  # type: ignore[misc]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-short"), (40, "-tall")]  # type: ignore[misc]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Help", tooltip="This list of keys", priority=True),
        EXPLAIN_KEY,
        *(Binding(key, f"show_pane('{pane}')", title, tooltip=f"Show the {title} pane", show=False, priority=True)
          for pane, title, key in PANES),
        Binding("f6,ctrl+r", "toggle_run", "Run", tooltip="Start or resume the run; pause it if running",
                priority=True),
        Binding("f7,ctrl+t", "step", "Step", tooltip="Exactly one training step, then pause", priority=True),
        Binding("f8,ctrl+n", "epoch", "Epoch", tooltip="Train to the end of this epoch, then pause",
                priority=True),
        Binding("f9", "stop", "Stop", tooltip="End the run (its worker thread exits)", priority=True),
        Binding("ctrl+s", "save", "Save", tooltip="Save the run as a checkpoint", priority=True),
        Binding("ctrl+o", "load", "Load", tooltip="Load a checkpoint", priority=True),
        Binding("ctrl+g", "dataset('generate')", "Generate", tooltip="Generate the dataset of the Dataset pane",
                show=False, priority=True),
        Binding("ctrl+l", "toggle_config", "Settings", tooltip="Show/hide the model and optimizer settings",
                show=False, priority=True),
        Binding("ctrl+q", "quit", "Quit", tooltip="Quit (offers to save an unsaved run)", priority=True),
        # How the Training pane's charts draw: letters, so a focused field (which takes letters) keeps them
        Binding("e", "charts('smoothing')", "Smooth", tooltip="Chart smoothing: 0 → 0.6 → 0.9 → 0.99 (raw in grey)"),
        Binding("y", "charts('log_y')", "Log y", tooltip="Log scale on the loss, lr and gradient-norm charts"),
        Binding("x", "charts('log_x')", "Log x", tooltip="Log scale on the step axis of every chart"),
    ]

    def __init__(self, initial_pane: str = "training") -> None:
        super().__init__()
        if "TEXTUAL_ANIMATIONS" not in os.environ:
            # Tab underlines etc. animate at 60 fps: over SSH that is bytes for nothing, and each frame
            # recomposes a screen full of widgets. Switching is instant without them.
            self.animation_level = "none"
        self.initial_pane = initial_pane
        self.dataset: Dataset | None = None
        self.controller = SessionController(self)
        self._quitting = False
        self._confirm_new_run = 0.0  # time of a first Start press on an unsaved run
        self._header = HeaderThrottle(HEADER_INTERVAL)

    # -- layout -------------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        # Probing panes read the live run only while it is not stepping, and always on copies.
        live = SessionModelSource(self._current_session)
        titles = {pane: f"{title} [dim]{key.upper().replace('CTRL+', '^')}[/]" for pane, title, key in PANES}
        with TabbedContent(initial=self.initial_pane, id="panes"):
            with TabPane(titles["learn"], id="learn"):
                yield LearnPane(live, self._current_session, id="learn-pane")
            for name in ("dataset", "training", *LAZY_PANES[1:]):
                with TabPane(titles[name], id=name):
                    if name == "training":
                        yield TrainingPane(self.controller, id="training-pane")
                    elif name == self.initial_pane:
                        yield self._build_pane(name)
        yield WorkbenchFooter(compact=True)  # Textual's Footer leaks its keys on every focus change

    def on_mount(self) -> None:
        self.sub_title = fit_summary(header_summary(self.controller.summary(), self.controller.state), self.title,
                                     self.size.width)
        self.training.active = self.initial_pane == "training"
        runs = self.mounted_pane("runs")
        if isinstance(runs, RunsPane):  # built at start only when it is the first pane shown
            runs.active = True
            runs.reload()
        self.controller.start_polling()
        focus = getattr(self.query_one(f"#{self.initial_pane}-pane"), "focus_default", None)
        if self.initial_pane in ("learn", "runs") and callable(focus):
            self.call_after_refresh(focus)

    def _build_pane(self, name: str) -> Widget:
        """A new widget for lazy pane ``name``."""
        live = SessionModelSource(self._current_session)
        if name == "dataset":
            return DatasetPane(self.dataset, id="dataset-pane")
        if name == "inference":
            return InferencePane(live, id="inference-pane")
        if name == "inspector":
            return InspectorPane(live, self._current_session, id="inspector-pane")
        if name == "lab":
            return LabPane(live, self._current_session, id="lab-pane")
        return RunsPane(id="runs-pane")

    def mounted_pane(self, name: str) -> Widget | None:
        """Pane ``name``'s widget if it has been built (every pane but the lazy ones always has)."""
        found = self.query(f"#{name}-pane")
        return found.first() if found else None

    async def ensure_pane(self, name: str) -> Widget:
        """Pane ``name``'s widget, built and mounted (with all its parts) first if it was not yet."""
        pane = self.mounted_pane(name)
        if pane is None:
            pane = self._build_pane(name)
            await self.query_one(f"#panes TabPane#{name}", TabPane).mount(pane)
        return pane

    def _current_session(self) -> TrainingSession | None:
        return self.controller.session

    @property
    def training(self) -> TrainingPane:
        return self.query_one("#training-pane", TrainingPane)


    @property
    def runs_pane(self) -> RunsPane:
        """The Runs pane (built on its first visit: ``ensure_pane("runs")`` before that)."""
        return self.query_one("#runs-pane", RunsPane)

    @property
    def dataset_pane(self) -> DatasetPane:
        """The Dataset pane (built on its first visit: ``ensure_pane("dataset")`` before that)."""
        return self.query_one("#dataset-pane", DatasetPane)

    # -- messages: from the controller and its workers ----------------------------------------------------
    @on(RunReady)
    def _run_ready(self, message: RunReady) -> None:
        self.controller.adopt(message)

    @on(RunFailed)
    def _run_failed(self, message: RunFailed) -> None:
        self.controller.failed(message)

    @on(SessionUpdated)
    def _session_updated(self, message: SessionUpdated) -> None:
        if self._quitting or not self.is_running:
            return  # shutting down: the panes may be gone
        self.training.show_session(message.state_changed)
        self._post_summary()

    @on(UntilMet)
    def _until_met(self, message: UntilMet) -> None:
        self.training.show_until_cleared()
        self.notify(f"{message.reason} (step {message.step:,}); the condition is cleared.",
                    title="Run-until condition met", timeout=6)

    @on(Notice)
    def _notice(self, message: Notice) -> None:
        self.notify(message.message, title=message.title, severity=message.severity, timeout=message.timeout)

    @on(EditApplied)
    def _edit_applied(self, message: EditApplied) -> None:
        self.notify(f"{message.field} = {message.value:g} from step {message.step:,}", timeout=3)
        if message.field == "lr":
            self.training.show_lr(message.value)

    @on(CheckpointSaved)
    def _checkpoint_saved(self, message: CheckpointSaved) -> None:
        self.notify(f"Saved {message.name} at step {message.step:,} → {message.path}", title="Checkpoint",
                    timeout=4)
        self.controller.saved(message)

    @on(SaveFailed)
    def _save_failed(self, message: SaveFailed) -> None:
        if not self.controller.save_failed(message):  # True: it asks whether to replace a better checkpoint
            self.notify(message.message, title=f"Cannot save {message.name}", severity="error", timeout=8)

    @on(DatasetAdopted)
    def _dataset_adopted(self, message: DatasetAdopted) -> None:
        """A run generated its dataset, or a checkpoint brought one: the Dataset pane shows it."""
        if message.dataset is self.dataset:
            return
        pane = self.mounted_pane("dataset")
        if isinstance(pane, DatasetPane):
            pane.show_dataset(message.dataset)  # (a loaded run's changes: the Training pane says)
        else:
            self._use_dataset(message.dataset)  # shown when the pane is built

    def _use_dataset(self, dataset: Dataset) -> None:
        """``dataset`` is the one the next run trains on."""
        self.dataset = dataset
        self.training.dataset_config = dataset.config
        self.training.validate_form()

    # -- messages: from the panes ---------------------------------------------------------------------------
    @on(OpenInConsole)
    async def _open_in_console(self, event: OpenInConsole) -> None:
        """A mistake picked in the inspector's evaluation view opens in the inference console."""
        await self.action_show_pane("inference")
        pane = self.query_one("#inference-pane", InferencePane)
        pane.run_expression(event.text, event.model)
        self.call_after_refresh(pane.focus_default)

    @on(LiveCellView.Open)
    async def _open_from_lesson(self, event: LiveCellView.Open) -> None:
        """A live cell's button: the full view of what it shows, on the lesson's model."""
        await open_view(self, event.action, event.expression, self.query_one("#learn-pane", LearnPane).choice)

    @on(DatasetPane.DatasetChanged)
    def _dataset_changed(self, event: DatasetPane.DatasetChanged) -> None:
        self._use_dataset(event.dataset)

    @on(DatasetPane.PresetChosen)
    def _preset_chosen(self, event: DatasetPane.PresetChosen) -> None:
        """A preset's model and optimiser go to the Training pane's form (its task to the Dataset pane's)."""
        config = event.preset.run_config()
        self.training.set_form(config)
        if self.controller.alive:  # F6 would resume the run there is, with its own settings
            self.notify(f"{event.preset.title}: task, model and optimiser set for the next run. F6 resumes the "
                        "current one: press New run in Training (or ctrl+p \"new run\") to start this one.",
                        title="preset", timeout=8)
        else:
            self.notify(f"{event.preset.title}: task, model and optimiser set — start it in Training (F6).",
                        title="preset", timeout=6)

    @on(DatasetPane.FormChanged)
    def _dataset_form_changed(self, event: DatasetPane.FormChanged) -> None:
        if self.dataset is None:  # until a dataset is generated, the next run uses the form's
            self.training.dataset_config = event.config
            self.training.validate_form()

    @on(SteerBar.LearningRate)
    def _steer_lr(self, event: SteerBar.LearningRate) -> None:
        steer = self.training.steer
        try:
            if not self.controller.set_learning_rate(event.lr):
                OptimizerConfig(lr=event.lr)  # same check as the form
                self.training.show_lr(event.lr)
                self.notify(f"No live run: the next run will start at lr {event.lr:g}.", timeout=3)
        except ConfigError as exc:
            steer.show_error(f"learning rate: {exc}")
            return
        steer.show_error("")

    @on(SteerBar.Pace)
    def _steer_pace(self, event: SteerBar.Pace) -> None:
        try:
            self.controller.set_pace(event.pace)
        except ConfigError as exc:
            self.training.steer.show_error(str(exc))
            return
        self.training.show_pace(event.pace)

    @on(SteerBar.Until)
    def _steer_until(self, event: SteerBar.Until) -> None:
        self.controller.set_until(event.until)

    @on(TabbedContent.TabActivated, "#panes")
    async def _pane_activated(self, event: TabbedContent.TabActivated) -> None:
        name = str(event.pane.id)
        built = self.mounted_pane(name) is not None
        pane = await self.ensure_pane(name)  # a lazy pane's first visit builds it (its mount loads it)
        self.training.active = name == "training"
        self.refresh_bindings()  # the chart keys show on the Training pane only
        runs = self.mounted_pane("runs")
        if isinstance(runs, RunsPane):
            runs.active = name == "runs"
            if runs.active:
                runs.reload()  # the records as they are now (the live run's grows)
        if name == "inspector" and built and isinstance(pane, InspectorPane):
            pane.reload()  # the current live weights
        if self.training.active:
            # Stale charts show their cached drawing at once; fresh data follows one chart per tick
            # (rebuilding all five here would delay the switch itself by ~50 ms).
            self.training.refresh_charts(soon=True)

    def _post_summary(self) -> None:
        state = self.controller.state
        summary = header_summary(self.controller.summary(), state)  # "running" only while it runs
        if self._header.due(summary, state, time.monotonic()):
            self.sub_title = fit_summary(summary, self.title, self.size.width)

    def on_resize(self, event: events.Resize) -> None:
        self.sub_title = fit_summary(self._header.shown or self.controller.summary(), self.title, event.size.width)

    # -- actions ----------------------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # While a dialog is open it has the keyboard: no run control or pane switch behind its back.
        if action == "charts":  # only on the Training pane (hidden from the footer elsewhere)
            return len(self.screen_stack) == 1 and self.query_one("#panes", TabbedContent).active == "training"
        return not (action in _MAIN_SCREEN_ACTIONS and len(self.screen_stack) > 1)

    def action_charts(self, what: str) -> None:
        """Smoothing, log y or log x of the Training pane's charts."""
        pane = self.training
        {"smoothing": pane.action_cycle_smoothing, "log_y": pane.action_toggle_log_y,
         "log_x": pane.action_toggle_log_x}[what]()

    async def action_show_pane(self, pane: str) -> None:
        """Show ``pane`` (built first on its first visit), the focus inside it or on the tabs."""
        if pane in LAZY_PANES:
            await self.ensure_pane(pane)
        self._show_pane(pane)

    def _show_pane(self, pane: str) -> None:
        """``action_show_pane`` for a pane that is built (Learn and Training always are)."""
        tabbed = self.query_one("#panes", TabbedContent)
        # Drop focus first: a widget of the old pane that keeps (or regains) focus would make TabbedContent
        # switch straight back to that pane.
        self.screen.set_focus(None)
        tabbed.active = pane
        # Focus follows the pane: an Input left focused in a hidden pane would swallow typed letters.
        inside = getattr(self.query_one(f"#{pane}-pane"), "focus_default", None) if pane in FOCUS_INSIDE else None
        self.call_after_refresh(inside or self.query_one("#panes").query_one(Tabs).focus)

    def action_show_chart(self, key: str) -> None:
        self._show_pane("training")
        self.training.select_chart(key)
        if self.screen.has_class("-wide") and self.screen.has_class("-tall"):  # every chart is on screen
            self.notify("At this size every chart is shown at once; the tabs choose one on a smaller screen.",
                        timeout=3)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_explain(self) -> None:
        open_explanation(self)

    def _start(self, then: Then) -> None:
        """Start/resume; without a live run, build a new one from the forms first, then ``then``."""
        c = self.controller
        if c.busy:
            if then == "run":
                self.notify("Still preparing the run…", timeout=2)
            else:
                c.command(then)  # kept, and applied once the run is ready
            return
        s = c.session
        if s is not None and s.alive and s.state in ("idle", "paused"):
            c.command(then)
            if then == "run" and self.screen.has_class("-narrow"):
                self.training.show_config(False)  # at 80 columns the charts need the whole width
            return
        if s is not None and s.alive and s.state == "running":
            if then == "run":
                self.notify("Already running. F6 pauses.", timeout=2)
            else:
                c.command(then)
            return
        if c.has_unsaved_progress() and time.monotonic() - self._confirm_new_run > 5:
            self._confirm_new_run = time.monotonic()
            self.notify("The current run is not saved. Save it (ctrl+s), or press the same key (or button) "
                        "again within 5 s to start a new run.", title="New run?", severity="warning", timeout=5)
            return
        config = self.training.validate_form()
        if config is None:
            self.notify("Fix the highlighted settings first.", title="Cannot start", severity="error")
            self.training.show_config(True)
            return
        c.build(config, self.dataset, then)
        if then == "run" and self.screen.has_class("-narrow"):
            self.training.show_config(False)

    def action_toggle_run(self) -> None:
        c = self.controller
        if c.alive and c.state == "running":
            c.pause()
        else:
            self._start("run")

    def action_start(self) -> None:
        self._start("run")

    def action_new_run(self) -> None:
        """Close the current run (asking first when it has unsaved steps) and start one from the settings."""
        self.training.new_run()

    def action_pause(self) -> None:
        c = self.controller
        if c.alive and c.state == "running":
            c.pause()
        elif c.alive and c.state in ("paused", "idle"):
            c.command("run")
        else:
            self.notify("No run to pause.", timeout=2)

    def action_step(self) -> None:
        self._start("step")

    def action_epoch(self) -> None:
        self._start("epoch")

    def action_stop(self) -> None:
        if not self.controller.stop():
            self.notify("No live run to stop.", timeout=2)

    def action_set_pace(self, text: str) -> None:
        if self.training.steer.request_pace(text):
            self.training.show_pace(parse_pace(text))

    def action_toggle_config(self) -> None:
        self._show_pane("training")
        self.training.show_config()

    async def action_dataset(self, what: str) -> None:
        """Generate, save or load (``what``) the dataset of the Dataset pane."""
        await self.action_show_pane("dataset")
        pane = self.dataset_pane
        {"generate": pane.generate, "save": pane.save, "load": pane.load}[what]()

    def action_save(self) -> None:
        c = self.controller
        if c.session is None:
            self.notify("Nothing to save: no run yet (F6 starts one).", severity="warning")
            return

        def chosen(name: str | None) -> None:
            if name and c.save(name):
                self.notify(f"Saving {name}…", timeout=2)

        self.push_screen(SaveCheckpointScreen(c.suggested_name(self.training.validate_form()), c.session.run.step),
                         chosen)

    def action_load(self) -> None:
        c = self.controller
        warning = ""
        if c.has_unsaved_progress():
            assert c.session is not None
            warning = f"The current run (step {c.session.run.step:,}) has unsaved steps: loading closes it."

        def chosen(name: str | None) -> None:
            if name:
                self._show_pane("training")
                c.load(name)

        self.push_screen(LoadCheckpointScreen(warning), chosen)

    async def action_quit(self) -> None:
        """Quit; with unsaved steps, ask first (save & quit / quit / cancel)."""
        c = self.controller
        if self._quitting or isinstance(self.screen, QuitScreen):
            return
        if not c.has_unsaved_progress():
            await self._close_and_exit()
            return
        assert c.session is not None
        name = c.suggested_name(None)
        message = (f"The run is at step {c.session.run.step:,} ({c.session.state}) and has steps that are not "
                   "saved. Quitting stops its worker.")

        async def chosen(choice: str | None) -> None:
            if choice == "quit":
                await self._close_and_exit()
            elif choice == "save":
                c.save(name, then=lambda: self.call_later(self._close_and_exit))

        self.push_screen(QuitScreen(message, name), chosen)

    async def _close_and_exit(self) -> None:
        """Stop the training worker (≤ 1 s, in a thread so the UI keeps drawing), then exit."""
        self._quitting = True
        self.sub_title = "stopping the training worker…"
        await asyncio.to_thread(self.controller.close, 1.0)
        self.exit(0)

    def close_sessions(self, timeout: float = 1.0) -> None:
        """Stop every training worker still alive (blocking; for the very end)."""
        self.controller.close_all(timeout)

    def on_unmount(self) -> None:
        # Whatever way the app ends (ctrl+c, an error), never leave a non-daemon worker running.
        self.close_sessions()


def run_app(mouse: bool = True) -> int:
    """Open the workbench in this terminal; returns the exit status."""
    # One BLAS thread: with two, OpenBLAS's spinning worker takes the core the UI needs, and every step
    # slows down as soon as anything else runs (see core/threads.py).
    tune_for_training(1)
    app = WorkbenchApp(initial_pane="learn" if first_visit() else "training")  # a newcomer starts on Learn
    try:
        result = app.run(mouse=mouse)
    finally:
        app.close_sessions()
    return int(result or 0)
