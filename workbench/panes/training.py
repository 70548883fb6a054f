"""The Training pane: the model/optimizer settings form, run controls, live state, steering and charts.

The pane shows the run that the App's ``SessionController`` holds (given to it as an attribute) and
never owns, replaces or commands the session itself: its buttons run the App's actions (the same ones
the keys and the command palette run), and its steering bar posts messages the App applies. The App
tells it when something changed (``show_session``); the parts are widgets of their own —
``RunStatus`` (state and numbers), ``SteerBar`` (lr, pace, run-until) and ``ChartPanel`` (charts).
"""

from __future__ import annotations

import math
import time
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Container, Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Input, Select, Static

from core.data.dataset import DatasetConfig
from core.data.task import TaskConfig
from core.errors import ConfigError
from core.nn.models.factory import Model
from core.probe.health import training_health
from core.probe.inference import Prediction, predict
from core.train.options import dataset_options, option
from core.train.run import Run, RunConfig
from workbench.screens.quit import NewRunScreen
from workbench.session_controller import LOADING, SessionController
from workbench.settings_fields import (
    MODEL_FIELDS,
    OPTIMIZER_FIELDS,
    TRAINING_FIELDS,
    run_config_from_form,
    training_form_values,
)
from workbench.widgets.chart_panel import ChartPanel
from workbench.widgets.form import FieldRow, field_for_message, read_fields
from workbench.widgets.health_view import HEALTH_INTERVAL, HealthMeasured
from workbench.widgets.run_status import RunStatus
from workbench.widgets.steer_bar import SteerBar
from workbench.widgets.watch_list import WATCH_INTERVAL, WatchList

STATUS_INTERVAL = 0.5  # s between repaints of the live numbers while running
START_TIP = "Start a new run from the settings (F6)"
NEW_RUN_TIP = ("Start a new run from the settings: the current one is closed (asks first if it has unsaved "
               "steps). Resume continues the current one (F6)")
ALL_FIELDS = TRAINING_FIELDS


class ModelCopied(Message):
    """A copy of the live model, taken between two steps at ``step``, for answering the watch list."""

    def __init__(self, step: int, model: Model, pins: list[str]) -> None:
        super().__init__()
        self.step, self.model, self.pins = step, model, pins


class WatchAnswered(Message):
    def __init__(self, step: int, predictions: list[Prediction]) -> None:
        super().__init__()
        self.step, self.predictions = step, predictions


class TrainingPane(Container):

    """Everything about the current run. The app's actions (F6–F9, ctrl+s …) drive it."""

    def __init__(self, controller: SessionController, id: str | None = None) -> None:
        super().__init__(id=id, classes="-config-shown")
        self.controller = controller
        self.dataset_config: DatasetConfig | None = DatasetConfig()  # set by the App from the Dataset pane
        self._rows: list[FieldRow] = []
        self._validate_pending = False
        self._session_id: int | None = None
        self._had_run = False  # a session was shown before (a condition set then carries on, visibly)
        self._dataset_before_load: DatasetConfig | None = None  # what the Dataset pane had when a load began

    @property
    def active(self) -> bool:
        """Is this the visible pane (charts are only redrawn then)."""
        return self.charts_panel.active

    @active.setter
    def active(self, value: bool) -> None:
        self.charts_panel.active = value

    # -- layout -----------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="training-body"):
            with Vertical(id="config", classes="form"):
                yield Static("", id="config-status")
                with VerticalScroll(id="config-fields"):
                    yield Static("Model", classes="section-title")
                    for spec in MODEL_FIELDS:
                        yield FieldRow(spec, "cfg")
                    yield Static("Optimizer", classes="section-title")
                    for spec in OPTIMIZER_FIELDS:
                        yield FieldRow(spec, "cfg")
            with Vertical(id="run"):
                with Horizontal(id="controls"):
                    yield Button("Start", id="btn-start", variant="success", compact=True,
                                 tooltip=START_TIP)
                    yield Button("Pause", id="btn-pause", variant="warning", compact=True,
                                 tooltip="Pause / resume the run (F6)")
                    yield Button("Step", id="btn-step", compact=True, tooltip="One training step (F7)")
                    yield Button("Epoch", id="btn-epoch", compact=True, tooltip="Train one epoch (F8)")
                    yield Button("Stop", id="btn-stop", variant="error", compact=True, tooltip="End the run (F9)")
                    yield Button("Save", id="btn-save", compact=True, tooltip="Save a checkpoint (ctrl+s)",
                                 classes="secondary")
                    yield Button("Load", id="btn-load", compact=True, tooltip="Load a checkpoint (ctrl+o)",
                                 classes="secondary")
                yield RunStatus(self.controller, id="run-status")
                yield SteerBar(id="steer-bar")
                yield ChartPanel(id="chart-panel")

    def on_mount(self) -> None:
        self.validate_form()
        self.show_session(True)
        self._mirror_form_lr()
        self.set_interval(HEALTH_INTERVAL, self._measure_health)
        self.set_interval(WATCH_INTERVAL, self._answer_watched)

    def _answer_watched(self, force: bool = False) -> None:
        """The pinned expressions, answered on a copy of the model taken between two steps."""
        session, watch = self.controller.session, self.charts_panel.watch_list
        if session is None or not session.alive or not watch.pins or not (force or self.charts_panel.health_visible()):
            return
        pins = list(watch.pins)
        session.request(lambda run: self.post_message(ModelCopied(run.step, run.clone_model(), pins)))

    @on(ModelCopied)
    def _model_copied(self, message: ModelCopied) -> None:
        task = self.charts_panel.watch_list.run_task
        if task is not None:
            self._predict_watched(message, task)

    @work(thread=True, exclusive=True, group="watch")
    def _predict_watched(self, copied: ModelCopied, task: TaskConfig) -> None:
        self.post_message(WatchAnswered(copied.step, predict(copied.model, task, copied.pins)))

    @on(WatchAnswered)
    def _watch_answered(self, message: WatchAnswered) -> None:
        self.charts_panel.watch_list.show(message.step, message.predictions)

    @on(WatchList.Changed)
    def _watch_changed(self) -> None:
        self._answer_watched(force=True)

    def _measure_health(self, force: bool = False) -> None:
        """Ask the training thread for the health figures, between two steps, while the Health view shows."""
        session = self.controller.session
        if session is None or not session.alive or not (force or self.charts_panel.health_visible()):
            return
        history = session.history

        def measure(run: Run) -> None:  # on the training thread, between two steps
            series = {"grad_norm": history.points("grad_norm")}
            figures = training_health(run.model, run.trainer.optimizer, run.val_split, series,
                                      run.trainer.schedule.base_lr * run.trainer.lr_scale)
            self.post_message(HealthMeasured(run.step, figures))

        session.request(measure)

    @on(ChartPanel.HealthShown)
    def _health_shown(self) -> None:
        self.call_after_refresh(self._measure_health, True)

    @on(HealthMeasured)
    def _health_measured(self, message: HealthMeasured) -> None:
        self.charts_panel.health.show(message.step, message.figures)

    def _mirror_form_lr(self) -> None:
        """Without a live run, the steering lr field shows the lr the next run starts at (the form's)."""
        if not self.controller.alive:
            text = str(self.row("lr").control.value).strip()
            if text and not self.row("lr").error:
                self.query_one("#lr-input", Input).value = text

    @property
    def status(self) -> RunStatus:
        return self.query_one("#run-status", RunStatus)

    @property
    def steer(self) -> SteerBar:
        return self.query_one("#steer-bar", SteerBar)

    @property
    def charts_panel(self) -> ChartPanel:
        return self.query_one("#chart-panel", ChartPanel)

    def action_cycle_smoothing(self) -> None:
        level = self.charts_panel.cycle_smoothing()
        self.notify(f"chart smoothing {level:g}" + (" (raw points in grey underneath)" if level else " (raw only)"),
                    timeout=2)

    def action_toggle_log_y(self) -> None:
        panel = self.charts_panel
        panel.set_view(log_y=not panel.log_y)
        self.notify(f"log y {'on' if panel.log_y else 'off'} (loss, lr, gradient norm)", timeout=2)

    def action_toggle_log_x(self) -> None:
        panel = self.charts_panel
        panel.set_view(log_x=not panel.log_x)
        self.notify(f"log x {'on' if panel.log_x else 'off'} (steps)", timeout=2)

    # -- config form --------------------------------------------------------------------------------------
    @property
    def rows(self) -> list[FieldRow]:
        if not self._rows:
            self._rows = list(self.query_one("#config").query(FieldRow))  # cached: queries are not free
        return self._rows

    def row(self, key: str) -> FieldRow:
        return self.query_one(f"#cfg-{key}-row", FieldRow)

    def _dataset_config(self) -> DatasetConfig | None:
        """The dataset the next run trains on: the generated one, else the Dataset form's (set by the App)."""
        return self.dataset_config

    def validate_form(self) -> RunConfig | None:
        """Check the form as typed: field validators, then the core's own rules (``RunConfig.create``)."""
        values, errors = read_fields(self.rows)
        config: RunConfig | None = None
        message = ""
        data = self._dataset_config()
        if data is None:
            message = "The dataset form has errors: fix them in the Dataset pane (F2)."
        elif not errors:
            try:
                config = self.config_from(values, data)
            except ConfigError as exc:
                message = str(exc)
                # total_steps is not a field here (it is epochs × steps per epoch, as the message says):
                # the warm-up is the value to lower
                key = "warmup_steps" if "total_steps" in message else field_for_message(message, ALL_FIELDS)
                if key:
                    errors[key] = message
        for row in self.rows:
            row.set_error(errors.get(row.spec.key))
        status = self.query_one("#config-status", Static)
        if config is not None:
            spe = math.ceil(config.dataset.n_train / config.optimizer.batch_size)
            note = ""
            s = self.controller.session
            if s is not None and config != s.run.config:
                note = "\nchanges apply to the next run (New run)"
            per_epoch = "1 step/epoch" if spe == 1 else f"{spe:,} steps/epoch"
            status.update(f"[green]✓[/] valid · {per_epoch} × {config.epochs:,} = {spe * config.epochs:,} "
                          f"steps{note}")
            status.set_classes("ok")
        else:
            n = len(errors)
            status.update(f"✗ {message}" if message else f"✗ {n} field{'s' if n != 1 else ''} to fix")
            status.set_classes("error")
        return config

    @staticmethod
    def config_from(values: dict[str, Any], data: DatasetConfig) -> RunConfig:
        return run_config_from_form(values, data)

    def set_form(self, config: RunConfig) -> None:
        """Show a run's config in the form (after loading a checkpoint, or a preset chosen)."""
        values = training_form_values(config)
        with self.prevent(Input.Changed, Select.Changed):
            for key, value in values.items():
                self.row(key).set_value(value)
        self.validate_form()
        self._mirror_form_lr()  # the Changed messages that would have done it were held back

    @on(Input.Changed, "#config Input")
    @on(Select.Changed, "#config Select")
    def _form_changed(self) -> None:
        # Once per refresh, however many fields changed (every Input posts Changed when mounted).
        if not self._validate_pending:
            self._validate_pending = True
            self.call_after_refresh(self._validate_later)

    @property
    def validation_pending(self) -> bool:
        """A field changed and the form is not validated yet (it is, once, after the next refresh)."""
        return self._validate_pending

    def _validate_later(self) -> None:
        self._validate_pending = False
        self.validate_form()
        self._mirror_form_lr()

    # -- what the controller says -------------------------------------------------------------------------
    def show_session(self, state_changed: bool) -> None:
        """Redraw from the controller: called by the App whenever it posts ``SessionUpdated``. While
        running, numbers change with every step: they are repainted a few times a second, not on each
        drain (every repaint is UI-thread time, which the training thread waits for)."""
        c = self.controller
        s = c.session
        if s is None:  # while a checkpoint loads, remember what the Dataset pane had, to say what changed
            if c.state != LOADING:
                self._dataset_before_load = None
            elif self._dataset_before_load is None:
                self._dataset_before_load = self.dataset_config
        if id(s) != self._session_id:
            self._session_id = id(s)
            self.charts_panel.show_history(c.history)
            self.charts_panel.watch_list.set_task(s.run.config.dataset.task if s is not None else None)
            if s is not None:
                self._answer_watched(force=True)
            self.validate_form()
            state_changed = True
            if s is not None:  # a new run starts with the default run-until condition (SteerBar.new_run)
                self.steer.new_run(loaded=c.checkpoint_name is not None, until=c.until, first=not self._had_run)
                self._had_run = True
                self._show_run_lr()
                before, self._dataset_before_load = self._dataset_before_load, None
                if c.checkpoint_name is not None and before is not None:
                    self._say_dataset_changes(c.checkpoint_name, before, s.run.config.dataset)
        if state_changed:
            self._update_buttons()
        if state_changed or c.state != "running" or time.monotonic() - self.status.rendered_at >= STATUS_INTERVAL:
            self.status.show()

    def _say_dataset_changes(self, name: str, before: DatasetConfig, after: DatasetConfig) -> None:
        """A loaded checkpoint brings its dataset: say which of the Dataset pane's settings it changed."""
        changes = dataset_changes(before, after)
        if changes:
            self.app.notify(f"Loading {name} changed the Dataset pane's settings: {'; '.join(changes)}.",
                            title="Dataset settings replaced", severity="warning", timeout=10)

    def _show_run_lr(self) -> None:
        """The lr field shows the learning rate the run trains with (not a placeholder)."""
        s = self.controller.session
        if s is not None:
            run = s.run
            lr = next((e["value"] for e in reversed(list(run.edits)) if e.get("field") == "lr"),
                      run.config.optimizer.lr)
            self.query_one("#lr-input", Input).value = f"{lr:g}"

    def _update_buttons(self) -> None:
        c = self.controller
        running = c.state == "running"
        live = c.alive and not c.busy
        start = self.query_one("#btn-start", Button)
        start.disabled = running or c.busy
        # With a run (paused, stopped, finished), Start starts another one — Resume continues this one.
        fresh = c.session is None and not c.busy
        start.label = "Start" if fresh else "New run"
        start.tooltip = START_TIP if fresh else NEW_RUN_TIP
        pause = self.query_one("#btn-pause", Button)
        pause.disabled = not live or c.state not in ("running", "paused", "idle")
        # The label says what a press does: only a running run can be paused.
        pause.label = "Pause" if running else "Resume"
        self.query_one("#btn-stop", Button).disabled = not live
        self.query_one("#btn-save", Button).disabled = c.session is None or c.busy
        self.query_one("#btn-step", Button).disabled = c.busy
        self.query_one("#btn-epoch", Button).disabled = c.busy

    def refresh_charts(self, force: bool = False, soon: bool = False) -> None:
        self.charts_panel.refresh_charts(force=force, soon=soon)

    def select_chart(self, key: str) -> None:
        self.charts_panel.select_chart(key)

    def show_lr(self, lr: float) -> None:
        """The learning rate now in force, in the form too (the next run starts from it)."""
        with self.prevent(Input.Changed):
            self.row("lr").set_value(lr)
        self.query_one("#lr-input", Input).value = f"{lr:g}"

    def show_pace(self, pace: float | None) -> None:
        field = self.query_one("#pace-input", Input)
        text = "" if pace is None else f"{pace:g}"
        if field.value.strip().removesuffix("/s") != text:
            field.value = text

    def show_until_cleared(self) -> None:
        """A met condition is cleared: so is the until widget."""
        self.steer.until_cleared()

    def on_resize(self) -> None:
        self.call_after_refresh(self._after_resize)

    def _after_resize(self) -> None:
        self.status.show()  # the status lines may wrap differently
        self.refresh_charts(force=True)

    def show_config(self, show: bool | None = None) -> None:
        """Show/hide the settings column (hidden, the charts get the whole width)."""
        shown = self.has_class("-config-shown")
        show = not shown if show is None else show
        if show == shown:
            return
        self.set_class(show, "-config-shown")
        self.query_one("#config").display = show
        self.call_after_refresh(self._after_resize)

    # -- buttons --------------------------------------------------------------------------------------------------
    @on(Button.Pressed, "#controls Button")
    async def _button(self, event: Button.Pressed) -> None:
        """Buttons run the same app actions as the keys and the command palette; "New run" (Start while
        there is a run) starts a fresh one instead of resuming — Resume does that."""
        action = (event.button.id or "").removeprefix("btn-")
        c = self.controller
        if action == "start" and c.session is not None and not c.busy and c.state != "running":
            self.new_run()
            return
        await self.app.run_action(action)  # start, pause, step, epoch, stop, save, load

    def new_run(self) -> None:
        """Close the current run and start a new one from the settings; with unsaved steps, ask first
        (save it and start / start without saving / cancel)."""
        c = self.controller
        s = c.session
        if s is None or not c.has_unsaved_progress():
            self._build_new_run()
            return
        name = c.suggested_name(None)

        def chosen(choice: str | None) -> None:
            if choice == "new":
                self._build_new_run()
            elif choice == "save":
                c.save(name, then=self._build_new_run)

        self.app.push_screen(NewRunScreen(f"The current run is at step {s.run.step:,} ({c.state}) and has steps "
                                          "that are not saved. A new run closes it.", name), chosen)

    def _build_new_run(self) -> None:
        config = self.validate_form()
        if config is None:
            self.app.notify("Fix the highlighted settings first.", title="Cannot start", severity="error")
            self.show_config(True)
            return
        self.controller.build(config, getattr(self.app, "dataset", None), "run")
        if self.screen.has_class("-narrow"):
            self.show_config(False)  # at 80 columns the charts need the whole width


def _shown(value: Any) -> str:
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def dataset_changes(before: DatasetConfig, after: DatasetConfig) -> list[str]:
    """``["nesting 1 → 2", "n_train 10,000 → 20,000"]``: the Dataset form settings that differ, by label."""
    old, new = dataset_options(before), dataset_options(after)
    return [f"{option(key).label} {_shown(old[key])} → {_shown(new[key])}" for key in new
            if key in old and old[key] != new[key]]
