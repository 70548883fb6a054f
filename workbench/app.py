"""The interactive workbench: a Textual app with Dataset, Training, Inference and Inspector panes.

``run_app()`` is what ``workbench`` (no arguments), ``workbench app`` and ``python -m workbench`` open.
The app is a thin shell: keys, command palette and buttons all go through the same actions, which
delegate to the panes. The one thing the app itself guards is the end: quitting with an unsaved run
offers to save, and the training worker is always stopped (``session.close(timeout=1)``) before the
process can exit — it is a non-daemon thread, so a forgotten one would keep the terminal hanging.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer, Header, TabbedContent, TabPane, Tabs

from core.data.dataset import Dataset, DatasetConfig
from core.threads import set_blas_threads
from core.train.session import TrainingSession
from workbench.commands import WorkbenchCommands
from workbench.model_source import SessionModelSource
from workbench.panes.dataset import DatasetPane
from workbench.panes.inference import InferencePane
from workbench.panes.inspector import InspectorPane, OpenInConsole
from workbench.panes.training import TrainingPane
from workbench.screens.help import HelpScreen
from workbench.screens.load_checkpoint import LoadCheckpointScreen
from workbench.screens.quit import QuitScreen
from workbench.screens.save_checkpoint import SaveCheckpointScreen
from workbench.styles import STYLES

PANES: tuple[tuple[str, str, str], ...] = (("dataset", "Dataset", "f2"), ("training", "Training", "f3"),
                                           ("inference", "Inference", "f4"), ("inspector", "Inspector", "f5"))
#: Actions that act on the run or open dialogs: refused while a dialog is open.
_MAIN_SCREEN_ACTIONS = {"start", "pause", "toggle_run", "step", "epoch", "stop", "save", "load", "generate",
                        "save_dataset", "load_dataset", "show_pane", "show_chart", "toggle_config", "help"}


class WorkbenchApp(App[int]):
    """llmlearn workbench. Function keys and ctrl combinations are priority bindings, so they work
    while a text field has focus (an Input would otherwise swallow letters)."""

    TITLE = "llmlearn workbench"
    # Absolute, so that subclasses defined elsewhere (tests, benchmarks) find the styles too.
    CSS_PATH: ClassVar[list[str | Path]] = [STYLES / "app.tcss", STYLES / "dataset.tcss",  # type: ignore[misc]
                                            STYLES / "training.tcss", STYLES / "inference.tcss",
                                            STYLES / "inspector.tcss"]
    COMMANDS = App.COMMANDS | {WorkbenchCommands}
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-short"), (40, "-tall")]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Help", tooltip="This list of keys", priority=True),
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
        Binding("ctrl+g", "generate", "Generate", tooltip="Generate the dataset of the Dataset pane", show=False,
                priority=True),
        Binding("ctrl+l", "toggle_config", "Settings", tooltip="Show/hide the model and optimizer settings",
                show=False, priority=True),
        Binding("ctrl+q", "quit", "Quit", tooltip="Quit (offers to save an unsaved run)", priority=True),
    ]

    def __init__(self, initial_pane: str = "training") -> None:
        super().__init__()
        if "TEXTUAL_ANIMATIONS" not in os.environ:
            # Tab underlines etc. animate at 60 fps: over SSH that is bytes for nothing, and each frame
            # recomposes a screen full of widgets. Switching is instant without them.
            self.animation_level = "none"
        self.initial_pane = initial_pane
        self.dataset: Dataset | None = None
        self.sessions: list[TrainingSession] = []  # every session started, so none can outlive the app
        self._quitting = False

    # -- layout -------------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        with TabbedContent(initial=self.initial_pane, id="panes"):
            with TabPane(f"{PANES[0][1]} [dim]F2[/]", id="dataset"):
                yield DatasetPane(id="dataset-pane")
            with TabPane(f"{PANES[1][1]} [dim]F3[/]", id="training"):
                yield TrainingPane(id="training-pane")
            # Probing panes read the live run only while it is not stepping, and always on copies.
            live = SessionModelSource(self._current_session)
            with TabPane(f"{PANES[2][1]} [dim]F4[/]", id="inference"):
                yield InferencePane(live, id="inference-pane")
            with TabPane(f"{PANES[3][1]} [dim]F5[/]", id="inspector"):
                yield InspectorPane(live, self._current_session, id="inspector-pane")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = self.training.summary()
        self.training.active = self.initial_pane == "training"

    def _current_session(self) -> TrainingSession | None:
        return self.training.session

    @on(OpenInConsole)
    def _open_in_console(self, event: OpenInConsole) -> None:
        """A mistake picked in the inspector's evaluation view opens in the inference console."""
        self.action_show_pane("inference")
        pane = self.query_one("#inference-pane", InferencePane)
        pane.run_expression(event.text, event.model)
        self.call_after_refresh(pane.focus_default)

    @property
    def training(self) -> TrainingPane:
        return self.query_one("#training-pane", TrainingPane)

    @property
    def dataset_pane(self) -> DatasetPane:
        return self.query_one("#dataset-pane", DatasetPane)

    # -- glue between panes ------------------------------------------------------------------------------------
    def dataset_form_config(self) -> DatasetConfig | None:
        """The dataset the Dataset pane's form describes (None while it has errors)."""
        return self.dataset_pane.read_config()

    def show_dataset(self, dataset: Dataset) -> None:
        """Show a dataset built elsewhere (a run generated it, or a checkpoint brought it)."""
        if dataset is not self.dataset:
            self.dataset_pane.show_dataset(dataset)

    @on(DatasetPane.DatasetChanged)
    def _dataset_changed(self, event: DatasetPane.DatasetChanged) -> None:
        self.dataset = event.dataset
        self.training.validate_form()

    @on(TrainingPane.StateChanged)
    def _state_changed(self, event: TrainingPane.StateChanged) -> None:
        if self.sub_title != event.summary:
            self.sub_title = event.summary

    @on(TabbedContent.TabActivated, "#panes")
    def _pane_activated(self, event: TabbedContent.TabActivated) -> None:
        self.training.active = event.pane.id == "training"
        if event.pane.id == "inspector":
            self.query_one("#inspector-pane", InspectorPane).reload()  # the current live weights
        if self.training.active:
            # Stale charts show their cached drawing at once; fresh data follows one chart per tick
            # (rebuilding all five here would delay the switch itself by ~50 ms).
            self.training.refresh_charts(soon=True)

    # -- actions ----------------------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # While a dialog is open it has the keyboard: no run control or pane switch behind its back.
        return not (action in _MAIN_SCREEN_ACTIONS and len(self.screen_stack) > 1)

    def action_show_pane(self, pane: str) -> None:
        tabbed = self.query_one("#panes", TabbedContent)
        # Drop focus first: a widget of the old pane that keeps (or regains) focus would make TabbedContent
        # switch straight back to that pane.
        self.screen.set_focus(None)
        tabbed.active = pane
        # Focus follows the pane: an Input left focused in a hidden pane would swallow typed letters.
        if pane == "inference":
            self.call_after_refresh(self.query_one("#inference-pane", InferencePane).focus_default)
        elif pane == "inspector":
            self.call_after_refresh(self.query_one("#inspector-pane", InspectorPane).focus_default)
        else:
            self.call_after_refresh(self.query_one("#panes").query_one(Tabs).focus)

    def action_show_chart(self, key: str) -> None:
        self.action_show_pane("training")
        self.training.select_chart(key)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_toggle_run(self) -> None:
        self.training.toggle_run()

    def action_start(self) -> None:
        self.training.start("run")

    def action_pause(self) -> None:
        self.training.pause()

    def action_step(self) -> None:
        self.training.step()

    def action_epoch(self) -> None:
        self.training.epoch()

    def action_stop(self) -> None:
        self.training.stop()

    def action_set_pace(self, text: str) -> None:
        self.training.set_pace(text)

    def action_toggle_config(self) -> None:
        self.action_show_pane("training")
        self.training.show_config()

    def action_generate(self) -> None:
        self.action_show_pane("dataset")
        self.dataset_pane.generate()

    def action_save_dataset(self) -> None:
        self.action_show_pane("dataset")
        self.dataset_pane.save()

    def action_load_dataset(self) -> None:
        self.action_show_pane("dataset")
        self.dataset_pane.load()

    def action_save(self) -> None:
        t = self.training
        if t.session is None:
            self.notify("Nothing to save: no run yet (F6 starts one).", severity="warning")
            return

        def chosen(name: str | None) -> None:
            if name:
                t.save_checkpoint(name)

        self.push_screen(SaveCheckpointScreen(t.suggested_name(), t.session.run.step), chosen)

    def action_load(self) -> None:
        t = self.training
        warning = ""
        if t.has_unsaved_progress():
            assert t.session is not None
            warning = f"The current run (step {t.session.run.step:,}) has unsaved steps: loading closes it."

        def chosen(name: str | None) -> None:
            if name:
                self.action_show_pane("training")
                t.load_checkpoint(name)

        self.push_screen(LoadCheckpointScreen(warning), chosen)

    async def action_quit(self) -> None:
        """Quit; with unsaved steps, ask first (save & quit / quit / cancel)."""
        t = self.training
        if self._quitting or isinstance(self.screen, QuitScreen):
            return
        if not t.has_unsaved_progress():
            await self._close_and_exit()
            return
        assert t.session is not None
        name = t.suggested_name()
        message = (f"The run is at step {t.session.run.step:,} ({t.session.state}) and has steps that are not "
                   "saved. Quitting stops its worker.")

        async def chosen(choice: str | None) -> None:
            if choice == "quit":
                await self._close_and_exit()
            elif choice == "save":
                t.save_checkpoint(name, then=lambda: self.call_later(self._close_and_exit))

        self.push_screen(QuitScreen(message, name), chosen)

    async def _close_and_exit(self) -> None:
        """Stop the training worker (≤ 1 s, in a thread so the UI keeps drawing), then exit."""
        self._quitting = True
        self.sub_title = "stopping the training worker…"
        await asyncio.to_thread(self.training.close_session, 1.0)
        self.exit(0)

    def register_session(self, session: TrainingSession) -> None:
        self.sessions = [s for s in self.sessions if s.alive]
        self.sessions.append(session)

    def close_sessions(self, timeout: float = 1.0) -> None:
        """Stop every training worker still alive (blocking; for the very end)."""
        for s in self.sessions:
            if s.alive:
                s.close(timeout=timeout)

    def on_unmount(self) -> None:
        # Whatever way the app ends (ctrl+c, an error), never leave a non-daemon worker running.
        self.close_sessions()


def run_app(mouse: bool = True) -> int:
    """Open the workbench in this terminal; returns the exit status."""
    # One BLAS thread: with two, OpenBLAS's spinning worker takes the core the UI needs, and every step
    # slows down as soon as anything else runs (see core/threads.py).
    set_blas_threads(1)
    app = WorkbenchApp()
    try:
        result = app.run(mouse=mouse)
    finally:
        app.close_sessions()
    return int(result or 0)
