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

from textual import on
from textual.app import ComposeResult
from textual.containers import Container, Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Select, Static

from core.data.dataset import DatasetConfig
from core.errors import ConfigError
from core.train.run import RunConfig
from workbench.session_controller import SessionController
from workbench.settings_fields import (
    MODEL_FIELDS,
    OPTIMIZER_FIELDS,
    TRAINING_FIELDS,
    run_config_from_form,
    training_form_values,
)
from workbench.widgets.chart_panel import ChartPanel
from workbench.widgets.form import FieldRow, field_for_message, read_fields
from workbench.widgets.run_status import RunStatus
from workbench.widgets.steer_bar import SteerBar

STATUS_INTERVAL = 0.5  # s between repaints of the live numbers while running
ALL_FIELDS = TRAINING_FIELDS


class TrainingPane(Container):
    """Everything about the current run. The app's actions (F6–F9, ctrl+s …) drive it."""

    def __init__(self, controller: SessionController, id: str | None = None) -> None:
        super().__init__(id=id, classes="-config-shown")
        self.controller = controller
        self.dataset_config: DatasetConfig | None = DatasetConfig()  # set by the App from the Dataset pane
        self._rows: list[FieldRow] = []
        self._validate_pending = False
        self._session_id: int | None = None

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
                                 tooltip="Start a new run, or resume (F6)")
                    yield Button("Pause", id="btn-pause", variant="warning", compact=True,
                                 tooltip="Pause / resume (F6)")
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

    @property
    def status(self) -> RunStatus:
        return self.query_one("#run-status", RunStatus)

    @property
    def steer(self) -> SteerBar:
        return self.query_one("#steer-bar", SteerBar)

    @property
    def charts_panel(self) -> ChartPanel:
        return self.query_one("#chart-panel", ChartPanel)

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
                # total_steps is not a field here: it is epochs × steps per epoch, so say so and point
                # at the warm-up, the value to lower.
                if "total_steps" in message:
                    spe = math.ceil(data.n_train / max(1, values["batch_size"]))
                    message += f" (total steps = {values['epochs']} epochs × {spe:,} steps per epoch)"
                    key: str | None = "warmup_steps"
                else:
                    key = field_for_message(message, ALL_FIELDS)
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
                note = "\nchanges apply to the next run (Stop, then Start)"
            status.update(f"[green]✓[/] valid · {spe:,} steps/epoch × {config.epochs} = {spe * config.epochs:,} "
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
        """Show a run's config in the form (after loading a checkpoint)."""
        values = training_form_values(config)
        with self.prevent(Input.Changed, Select.Changed):
            for key, value in values.items():
                self.row(key).set_value(value)
        self.validate_form()

    @on(Input.Changed, "#config Input")
    @on(Select.Changed, "#config Select")
    def _form_changed(self) -> None:
        # Once per refresh, however many fields changed (every Input posts Changed when mounted).
        if not self._validate_pending:
            self._validate_pending = True
            self.call_after_refresh(self._validate_later)

    def _validate_later(self) -> None:
        self._validate_pending = False
        self.validate_form()

    # -- what the controller says -------------------------------------------------------------------------
    def show_session(self, state_changed: bool) -> None:
        """Redraw from the controller: called by the App whenever it posts ``SessionUpdated``. While
        running, numbers change with every step: they are repainted a few times a second, not on each
        drain (every repaint is UI-thread time, which the training thread waits for)."""
        c = self.controller
        s = c.session
        if id(s) != self._session_id:
            self._session_id = id(s)
            self.charts_panel.show_history(c.history)
            self.validate_form()
            state_changed = True
            if s is not None:  # a new run starts with the default run-until condition (SteerBar.new_run)
                self.steer.new_run(loaded=c.checkpoint_name is not None, active=c.until.active)
        if state_changed:
            self._update_buttons()
        if state_changed or c.state != "running" or time.monotonic() - self.status.rendered_at >= STATUS_INTERVAL:
            self.status.show()

    def _update_buttons(self) -> None:
        c = self.controller
        running = c.state == "running"
        live = c.alive and not c.busy
        self.query_one("#btn-start", Button).disabled = running or c.busy
        pause = self.query_one("#btn-pause", Button)
        pause.disabled = not live or c.state not in ("running", "paused", "idle")
        pause.label = "Resume" if live and c.state in ("paused", "idle") else "Pause"
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
        """Buttons run the same app actions as the keys and the command palette."""
        action = (event.button.id or "").removeprefix("btn-")
        await self.app.run_action(action)  # start, pause, step, epoch, stop, save, load
