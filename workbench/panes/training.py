"""The Training pane: model/optimizer form, run controls, live state and charts of one TrainingSession.

Threads: the ``TrainingSession`` trains in its own worker thread and only ever *puts* events on its
queue. This pane drains that queue from a ``set_interval`` timer (10 Hz) on the UI thread and updates
widgets; charts are redrawn from ``session.history`` by a second, slower timer (≤ 5 Hz), only when
something new arrived and only for the charts that are visible. Nothing here waits on the worker:
commands are queued (``session.pause()`` etc.), building a run and closing an old session happen in
Textual thread workers, and saving a checkpoint runs on the training worker between two steps
(``session.request``) so it always sees a consistent model.
"""

from __future__ import annotations

import math
import queue
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Container, Grid, Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Input, Label, Select, Static, Tab, Tabs

from core.data.dataset import Dataset, DatasetConfig
from core.errors import ConfigError, LLMLearnError
from core.nn.config import ACTIVATIONS, MODEL_KINDS, NORMS, POSITIONALS
from core.optim.config import OPTIMIZERS, SCHEDULES, OptimizerConfig
from core.train.checkpoint import read_checkpoint, save_checkpoint
from core.train.events import CheckpointEvent, DivergenceEvent, EditEvent, ErrorEvent, EvalEvent, StateEvent, StepEvent
from core.train.history import MetricHistory
from core.train.run import Run, RunConfig
from core.train.session import RunUntil, TrainingSession
from workbench.widgets.charts import MetricChart, SeriesSpec
from workbench.widgets.form import FieldRow, FieldSpec, field_for_message, parse_float, read_fields
from workbench.widgets.progress import RunProgress

POLL_INTERVAL = 0.1  # s between drains of the event queue
STATUS_INTERVAL = 0.5  # s between repaints of the live numbers while running
HEADER_INTERVAL = 2.0  # s between header updates while running (each one is a layout pass of the screen)
CHART_INTERVAL = 0.25  # s between chart redraws at least (≤ 5 Hz, as the issue asks)
CHART_DUTY_FACTOR = 20  # … and at least 20× what the last redraw cost the UI thread (≤ 5% of its time)
RATE_WINDOW = 3.0  # s of history used for steps/s and the ETA


def _choices(values: tuple[str, ...], labels: dict[str, str] | None = None) -> tuple[tuple[str, str], ...]:
    return tuple(((labels or {}).get(v, v), v) for v in values)


MODEL_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("kind", "model", "choice", "encoder", choices=_choices(MODEL_KINDS),
              tooltip="encoder: classifies the answer; decoder: generates it digit by digit"),
    FieldSpec("d_model", "d_model", "int", 64, 2, 4096, tooltip="width of the residual stream"),
    FieldSpec("n_layers", "layers", "int", 2, 1, 48),
    FieldSpec("n_heads", "heads", "int", 4, 1, 256, tooltip="attention heads; must divide d_model"),
    FieldSpec("d_ff", "FFN size", "int", 256, 1, 65_536, tooltip="hidden width of the feed-forward block"),
    FieldSpec("dropout", "dropout", "float", 0.0, 0.0, 0.9),
    FieldSpec("norm", "norm", "choice", "pre", choices=_choices(NORMS, {"pre": "pre-LN", "post": "post-LN"})),
    FieldSpec("activation", "activation", "choice", "relu", choices=_choices(ACTIVATIONS)),
    FieldSpec("positional", "positions", "choice", "sinusoidal", choices=_choices(POSITIONALS)),
)
OPTIMIZER_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("name", "optimizer", "choice", "adam", choices=_choices(OPTIMIZERS), aliases=("optimizer",)),
    FieldSpec("lr", "learning rate", "float", 1e-3, 0.0, 10.0, lo_open=True),
    FieldSpec("schedule", "schedule", "choice", "constant", choices=_choices(SCHEDULES),
              tooltip="cosine: warm-up then cosine decay to the minimum lr over the whole run"),
    FieldSpec("warmup_steps", "warm-up", "int", 0, 0, 10**9, tooltip="warm-up steps (cosine schedule)"),
    FieldSpec("min_lr", "min lr", "float", 0.0, 0.0, 10.0, tooltip="final learning rate of the cosine schedule"),
    FieldSpec("batch_size", "batch size", "int", 32, 1, 65_536),
    FieldSpec("epochs", "epochs", "int", 20, 1, 100_000),
    FieldSpec("clip_norm", "clip norm", "float", 1.0, 0.0, 1e6, tooltip="gradient clipping by global norm; 0 = off"),
    FieldSpec("weight_decay", "weight decay", "float", 0.0, 0.0, 1.0),
    FieldSpec("eval_every", "eval every", "int", 0, 0, 10**9, tooltip="steps between validations; 0 = each epoch"),
    FieldSpec("seed", "init seed", "int", 0, 0, 2**32 - 1, tooltip="initialisation, batch order and dropout"),
)
ALL_FIELDS = MODEL_FIELDS + OPTIMIZER_FIELDS

UNTIL_KINDS: tuple[tuple[str, str], ...] = (
    ("no condition", "none"),
    ("val acc ≥", "val_accuracy"),
    ("loss ≤", "loss"),
    ("step =", "step"),
    ("grad spike ×", "grad_spike"),
)
UNTIL_TEXT = {"val_accuracy": "val acc ≥ {:.2%}", "loss": "loss ≤ {:g}", "step": "step {:,}",
              "grad_spike": "grad > {:g}× median"}
STATE_STYLE = {"running": "bold green", "paused": "bold yellow", "idle": "bold", "finished": "bold blue",
               "stopped": "bold red", "building": "bold magenta", "no run": "dim", "loading": "bold magenta"}
#: Pause reasons that do not come from a run-until condition.
_OWN_PAUSES = ("paused by request", "step budget done", "diverged", "session opened")

CHARTS: tuple[tuple[str, str], ...] = (("loss", "Loss"), ("accuracy", "Accuracy"), ("per-op", "Per op"),
                                       ("lr", "LR"), ("grad", "Grad norm"))


def clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def default_checkpoint_name(config: RunConfig) -> str:
    t = config.dataset.task
    return f"{config.model.kind}-0-{t.max_value}-{t.min_args}to{t.max_args}args"


def parse_until(kind: str, text: str) -> RunUntil:
    """A ``RunUntil`` from the until form; accepts ``99%`` for accuracies. ConfigError on bad input."""
    if kind == "none":
        return RunUntil()
    text = text.strip()
    if not text:
        raise ConfigError("enter a value for the run-until condition")
    if kind == "step":
        try:
            return RunUntil(step=int(text.replace(",", "").replace("_", "")))
        except ValueError:
            raise ConfigError(f"run-until step must be a whole number, got {text!r}") from None
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else parse_float(text)
    except ValueError as exc:
        raise ConfigError(f"run-until value {exc}") from None
    if kind == "val_accuracy" and value > 1:
        raise ConfigError("validation accuracy is between 0 and 1 (or 0% and 100%)")
    return RunUntil(**{kind: value})


class TrainingPane(Container):
    """Everything about the current run. The app's actions (F6–F9, ctrl+s …) call its public methods."""

    class StateChanged(Message):
        """The run state changed (the app updates its header and footer bindings)."""

        def __init__(self, state: str, summary: str) -> None:
            super().__init__()
            self.state = state
            self.summary = summary

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id, classes="-config-shown")
        self.session: TrainingSession | None = None
        self.state = "no run"
        self.reason = ""
        self.checkpoint_name: str | None = None
        self.saved_step: int | None = None  # step of the last save/load of this session
        self.pace: float | None = None
        self.until = RunUntil()
        self.active = False  # is this the visible pane (charts are only redrawn then)
        self.quit_after_save: Callable[[], None] | None = None
        self.last_step_event: StepEvent | None = None
        self.last_eval: EvalEvent | None = None
        self.last_error = ""
        self._results: queue.Queue[tuple[str, str]] = queue.Queue()  # from the training thread: save failures
        self._rate: deque[tuple[float, int]] = deque()
        self._tokens_per_s: float | None = None
        self._chart_key: object = None
        self._selected_chart = "loss"
        self._charts: list[MetricChart] = []
        self._rows: list[FieldRow] = []
        self._validate_pending = False
        self._summary = ""
        self._summary_state = ""
        self._summary_at = 0.0
        self._next_chart_time = 0.0
        self._rendered_at = 0.0
        self._shown_text: dict[str, tuple[str, int]] = {}
        self._chart_turn = 0
        self._confirm_new_run = 0.0  # time of a first Start press on an unsaved finished run

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
                                 tooltip="Start a run, or resume (F6)")
                    yield Button("Pause", id="btn-pause", variant="warning", compact=True,
                                 tooltip="Pause / resume (F6)")
                    yield Button("Step", id="btn-step", compact=True, tooltip="One training step (F7)")
                    yield Button("Epoch", id="btn-epoch", compact=True, tooltip="Train one epoch (F8)")
                    yield Button("Stop", id="btn-stop", variant="error", compact=True, tooltip="End the run (F9)")
                    yield Button("Save", id="btn-save", compact=True, tooltip="Save a checkpoint (ctrl+s)",
                                 classes="secondary")
                    yield Button("Load", id="btn-load", compact=True, tooltip="Load a checkpoint (ctrl+o)",
                                 classes="secondary")
                yield Static("", id="run-state")
                yield Static("", id="run-metrics")
                yield Static("", id="run-info")
                yield RunProgress(id="progress")
                with Grid(id="steer"):
                    with Horizontal(classes="steer-item"):
                        yield Label("lr ", classes="steer-label")
                        yield Input(placeholder="e.g. 5e-4 ⏎", id="lr-input", compact=True,
                                    tooltip="New learning rate from the next step on (Enter applies it)")
                    with Horizontal(classes="steer-item"):
                        yield Label("pace ", classes="steer-label")
                        yield Input(placeholder="full speed", id="pace-input", compact=True,
                                    tooltip="Steps per second, or empty for full speed (Enter applies it)")
                    with Horizontal(classes="steer-item", id="until-item"):
                        yield Label("until ", classes="steer-label")
                        yield Select(UNTIL_KINDS, value="none", allow_blank=False, compact=True, id="until-kind")
                        yield Input(placeholder="value ⏎", id="until-value", compact=True,
                                    tooltip="Pause by itself once this is reached (Enter sets it)")
                yield Static("", id="steer-error")
                yield Tabs(*(Tab(label, id=f"tab-{key}") for key, label in CHARTS), id="chart-tabs")
                with Grid(id="charts"):
                    yield MetricChart("loss", (SeriesSpec("train/loss", "train", "cyan"),
                                               SeriesSpec("val/loss", "val", "orange")),
                                      show_marks=True, id="chart-loss", classes="-selected",
                                      empty_hint="start training (F6) to see the loss")
                    yield MetricChart("accuracy", (SeriesSpec("train/accuracy", "train", "cyan"),
                                                   SeriesSpec("val/accuracy", "val", "orange")),
                                      ylim=(0.0, 1.0), id="chart-accuracy")
                    yield MetricChart("validation accuracy per operation", prefix="val/accuracy/",
                                      ylim=(0.0, 1.0), id="chart-per-op",
                                      empty_hint="appears after the first validation")
                    yield MetricChart("learning rate", (SeriesSpec("lr", "lr", "green"),), show_marks=True,
                                      id="chart-lr")
                    yield MetricChart("gradient norm", (SeriesSpec("grad_norm", "grad norm", "magenta"),),
                                      id="chart-grad")

    def on_mount(self) -> None:
        self.set_interval(POLL_INTERVAL, self.poll)
        self.set_interval(CHART_INTERVAL, self.refresh_charts)
        self.validate_form()
        self._render_status()

    # -- config form --------------------------------------------------------------------------------------
    @property
    def rows(self) -> list[FieldRow]:
        if not self._rows:
            self._rows = list(self.query_one("#config").query(FieldRow))  # cached: queries are not free
        return self._rows

    def row(self, key: str) -> FieldRow:
        return self.query_one(f"#cfg-{key}-row", FieldRow)

    def _dataset_config(self) -> DatasetConfig | None:
        dataset: Dataset | None = getattr(self.app, "dataset", None)
        if dataset is not None:
            return dataset.config
        reader = getattr(self.app, "dataset_form_config", None)
        return reader() if reader else DatasetConfig()

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
            if self.session is not None and config != self.session.run.config:
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
        steps_per_epoch = math.ceil(data.n_train / max(1, values["batch_size"]))
        opt = OptimizerConfig(name=values["name"], lr=values["lr"], schedule=values["schedule"],
                              warmup_steps=values["warmup_steps"], min_lr=values["min_lr"],
                              total_steps=steps_per_epoch * values["epochs"], batch_size=values["batch_size"],
                              clip_norm=values["clip_norm"], weight_decay=values["weight_decay"])
        return RunConfig.create(data, kind=values["kind"], seed=values["seed"], epochs=values["epochs"],
                                eval_every=values["eval_every"], optimizer=opt, d_model=values["d_model"],
                                n_layers=values["n_layers"], n_heads=values["n_heads"], d_ff=values["d_ff"],
                                dropout=values["dropout"], norm=values["norm"], activation=values["activation"],
                                positional=values["positional"])

    def set_form(self, config: RunConfig) -> None:
        """Show a run's config in the form (after loading a checkpoint)."""
        m, o = config.model, config.optimizer
        values = {"kind": m.kind, "d_model": m.d_model, "n_layers": m.n_layers, "n_heads": m.n_heads,
                  "d_ff": m.d_ff, "dropout": m.dropout, "norm": m.norm, "activation": m.activation,
                  "positional": m.positional, "name": o.name, "lr": o.lr, "schedule": o.schedule,
                  "warmup_steps": o.warmup_steps, "min_lr": o.min_lr, "batch_size": o.batch_size,
                  "epochs": config.epochs, "clip_norm": o.clip_norm, "weight_decay": o.weight_decay,
                  "eval_every": config.eval_every, "seed": config.seed}
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

    # -- run control (called by the app's actions) ----------------------------------------------------------
    @property
    def alive(self) -> bool:
        return self.session is not None and self.session.alive

    @property
    def busy(self) -> bool:
        """A run is being built or loaded (controls wait for it)."""
        return self.state in ("building", "loading")

    def has_unsaved_progress(self) -> bool:
        s = self.session
        return s is not None and s.run.step > 0 and s.run.step != self.saved_step

    def start(self, then: str = "run") -> None:
        """Start/resume; without a live run, build a new one from the forms first, then ``then``."""
        if self.busy:
            self.app.notify("Still preparing the run…", timeout=2)
            return
        s = self.session
        if s is not None and s.alive and s.state in ("idle", "paused"):
            self._command(then)
            return
        if s is not None and s.alive and s.state == "running":
            if then == "run":
                self.app.notify("Already running. F6 pauses.", timeout=2)
            else:
                self._command(then)
            return
        if self.has_unsaved_progress() and time.monotonic() - self._confirm_new_run > 5:
            self._confirm_new_run = time.monotonic()
            self.app.notify("The current run is not saved. Save it (ctrl+s), or press again within 5 s to "
                            "start a new run.", title="New run?", severity="warning", timeout=5)
            return
        config = self.validate_form()
        if config is None:
            self.app.notify("Fix the highlighted settings first.", title="Cannot start", severity="error")
            self.show_config(True)
            return
        dataset: Dataset | None = getattr(self.app, "dataset", None)
        if dataset is not None and dataset.config != config.dataset:
            dataset = None
        old, self.session = self.session, None
        self._set_state("building", "generating the dataset…" if dataset is None else "building the model…")
        self._build(old, config, dataset, then)

    def _command(self, what: str) -> None:
        s = self.session
        assert s is not None
        if what == "run":
            s.start()
        elif what == "step":
            s.step(1)
        elif what == "epoch":
            s.run_epoch()
        self.poll_soon()
        if what == "run" and self.screen.has_class("-narrow"):
            self.show_config(False)  # at 80 columns the charts need the whole width

    def toggle_run(self) -> None:
        s = self.session
        if s is not None and s.alive and s.state == "running":
            s.pause()
            self.poll_soon()
        else:
            self.start("run")

    def pause(self) -> None:
        s = self.session
        if s is not None and s.alive and s.state == "running":
            s.pause()
            self.poll_soon()
        elif s is not None and s.alive and s.state in ("paused", "idle"):
            s.resume()
            self.poll_soon()
        else:
            self.app.notify("No run to pause.", timeout=2)

    def step(self) -> None:
        self.start("step")

    def epoch(self) -> None:
        self.start("epoch")

    def stop(self) -> None:
        s = self.session
        if s is None or not s.alive:
            self.app.notify("No live run to stop.", timeout=2)
            return
        s.stop()
        self.poll_soon()

    def poll_soon(self) -> None:
        """Show the effect of a command as soon as the worker applied it (at its next step boundary,
        a few ms away), instead of at the next 10 Hz poll."""
        for delay in (0.01, 0.03, 0.06):
            self.set_timer(delay, self.poll)

    @work(thread=True, exclusive=True, group="session", exit_on_error=False)
    def _build(self, old: TrainingSession | None, config: RunConfig, dataset: Dataset | None, then: str) -> None:
        """Off the UI thread: close the previous session, generate the data if needed, build the model."""
        if old is not None:
            old.close(timeout=1.0)
        try:
            run = Run(config, dataset)
        except LLMLearnError as exc:
            self.app.call_from_thread(self._build_failed, str(exc))
            return
        self.app.call_from_thread(self._adopt, run, [], None, then, None, dataset is None)

    def _build_failed(self, message: str) -> None:
        self._set_state("no run", "")
        self.last_error = message
        self.app.notify(message, title="Cannot build the run", severity="error", timeout=8)
        self._render_status()

    def _adopt(self, run: Run, warnings: list[str], history: list[dict[str, Any]] | None, then: str | None,
               name: str | None, new_dataset: bool) -> None:
        """Make ``run`` the current run: a new session (own thread), fresh trackers and charts."""
        session = TrainingSession(run)
        if history:
            session.history = MetricHistory.from_records(history)
        if self.pace is not None:
            session.set_pace(self.pace)
        session.run_until(self.until)
        session.start_thread()
        register = getattr(self.app, "register_session", None)
        if register is not None:
            register(session)
        self.session = session
        self.saved_step = run.step
        self.checkpoint_name = name
        self.last_step_event, self.last_eval, self.last_error = None, None, ""
        self._rate.clear()
        self._tokens_per_s = None
        self._chart_key = None
        for chart in self.charts:
            chart.clear()
        self._set_state(session.state, "")
        for w in warnings:
            self.app.notify(w, title="Warning", severity="warning", timeout=8)
        if new_dataset and hasattr(self.app, "show_dataset"):
            self.app.show_dataset(run.dataset)
        if then:
            self._command(then)
        self.validate_form()
        self.refresh_charts(force=True)
        self._render_status()

    def close_session(self, timeout: float = 1.0) -> bool:
        """Stop the worker and wait for it (blocking: call from a thread, or at exit)."""
        s = self.session
        return True if s is None else s.close(timeout=timeout)

    # -- steering while running -------------------------------------------------------------------------------
    def set_learning_rate(self, text: str) -> bool:
        try:
            lr = parse_float(text)
            s = self.session
            if s is not None and s.alive:
                s.set_learning_rate(lr)
            else:
                OptimizerConfig(lr=lr)  # same check as the form
                self.row("lr").set_value(lr)
                self.app.notify(f"No live run: the next run will start at lr {lr:g}.", timeout=3)
        except (ValueError, ConfigError) as exc:
            self._steer_error(f"learning rate: {exc}")
            return False
        self._steer_error("")
        return True

    def set_pace(self, text: str) -> bool:
        text = text.strip().lower()
        try:
            pace = None if text in ("", "full", "max", "0") else parse_float(text.removesuffix("/s"))
            if pace is not None and pace <= 0:
                raise ValueError("must be a positive number of steps per second")
            if self.session is not None and self.session.alive:
                self.session.set_pace(pace)
        except (ValueError, ConfigError) as exc:
            self._steer_error(f"pace: {exc}")
            return False
        self.pace = pace
        self._steer_error("")
        self._render_status()
        return True

    def set_until(self, kind: str, text: str) -> bool:
        try:
            until = parse_until(kind, text)
        except ConfigError as exc:
            self._steer_error(str(exc))
            return False
        self.until = until
        if self.session is not None and self.session.alive:
            self.session.run_until(until)
        self._steer_error("")
        self._render_status()
        return True

    def _steer_error(self, message: str) -> None:
        widget = self.query_one("#steer-error", Static)
        widget.update(f"✗ {message}" if message else "")
        widget.display = bool(message)

    @on(Input.Submitted, "#lr-input")
    def _lr_submitted(self, event: Input.Submitted) -> None:
        if self.set_learning_rate(event.value):
            event.input.value = ""

    @on(Input.Submitted, "#pace-input")
    def _pace_submitted(self, event: Input.Submitted) -> None:
        self.set_pace(event.value)

    @on(Input.Submitted, "#until-value")
    def _until_submitted(self, event: Input.Submitted) -> None:
        self.set_until(str(self.query_one("#until-kind", Select).value), event.value)

    @on(Select.Changed, "#until-kind")
    def _until_kind_changed(self, event: Select.Changed) -> None:
        if event.value == "none":
            self.set_until("none", "")
        else:
            self.query_one("#until-value", Input).focus()

    # -- checkpoints ------------------------------------------------------------------------------------------
    def suggested_name(self) -> str:
        if self.checkpoint_name:
            return self.checkpoint_name
        config = self.session.run.config if self.session else self.validate_form()
        return default_checkpoint_name(config) if config else "my-model"

    def save_checkpoint(self, name: str, then: Callable[[], None] | None = None) -> bool:
        """Save the current run as ``name``: on the training thread between steps when it is alive,
        else in a thread worker. ``then`` runs (on the UI thread) once the save succeeded."""
        s = self.session
        if s is None:
            self.app.notify("Nothing to save: no run yet.", severity="warning")
            return False
        self.quit_after_save = then
        results = self._results

        def save(run: Run) -> None:
            try:
                val, test = run.evaluate("val"), run.evaluate("test")
                metrics = {"val_accuracy": val.accuracy if val else None,
                           "test_accuracy": test.accuracy if test else None, "steps": run.step}
                path = save_checkpoint(run, name, history=s.history.to_records(), metrics=metrics)
            except (LLMLearnError, OSError) as exc:
                results.put(("save-failed", f"{name}: {exc}"))
                return
            s.checkpoint_event(name, str(path))

        if s.alive:
            s.request(save)
        else:
            self._save_offline(save, s.run)
        self.app.notify(f"Saving {name}…", timeout=2)
        return True

    @work(thread=True, group="save", exit_on_error=False)
    def _save_offline(self, save: Callable[[Run], None], run: Run) -> None:
        save(run)  # the worker has exited: nobody else touches the run

    def load_checkpoint(self, name: str) -> None:
        """Replace the current run by checkpoint ``name`` (read and rebuilt in a thread)."""
        old, self.session = self.session, None
        self._set_state("loading", f"loading {name}…")
        self._load(old, name)

    @work(thread=True, exclusive=True, group="session", exit_on_error=False)
    def _load(self, old: TrainingSession | None, name: str) -> None:
        if old is not None:
            old.close(timeout=1.0)
        try:
            ck = read_checkpoint(name)
            run, warnings = ck.build_run()
        except LLMLearnError as exc:
            self.app.call_from_thread(self._load_failed, name, str(exc))
            return
        self.app.call_from_thread(self._loaded, run, warnings, ck.history, name)

    def _load_failed(self, name: str, message: str) -> None:
        self._set_state("no run", "")
        self.app.notify(message, title=f"Cannot load {name}", severity="error", timeout=8)
        self._render_status()

    def _loaded(self, run: Run, warnings: list[str], history: list[dict[str, Any]], name: str) -> None:
        if hasattr(self.app, "show_dataset"):
            self.app.show_dataset(run.dataset)
        self.set_form(run.config)
        self._adopt(run, warnings, history, None, name, False)
        self.app.notify(f"Loaded {name} at step {run.step:,}.", timeout=3)

    # -- the event loop side ------------------------------------------------------------------------------------
    def poll(self) -> None:
        """Drain the session's events (never blocks) and update the live state."""
        s = self.session
        if s is None:
            return
        events = s.drain()
        state_changed = False
        for e in events:
            if isinstance(e, StepEvent):
                self.last_step_event = e
                t = e.tokens_per_s
                if math.isfinite(t):
                    self._tokens_per_s = t if self._tokens_per_s is None else 0.9 * self._tokens_per_s + 0.1 * t
            elif isinstance(e, EvalEvent):
                self.last_eval = e
            elif isinstance(e, StateEvent):
                if e.state == "paused" and self.until != RunUntil() and e.reason not in _OWN_PAUSES \
                        and not e.reason.startswith("error"):
                    self.until = RunUntil()  # the session clears a met condition itself
                self._set_state(e.state, e.reason)
                state_changed = True
            elif isinstance(e, EditEvent):
                self.app.notify(f"{e.field} = {e.value:g} from step {e.step:,}", timeout=3)
            elif isinstance(e, CheckpointEvent):
                self._saved(e)
            elif isinstance(e, DivergenceEvent):
                self.last_error = e.message
                self.app.notify(e.message, title="Training diverged", severity="error", timeout=10)
            elif isinstance(e, ErrorEvent):
                self.last_error = e.message
                self.app.notify(e.message, title="Training error", severity="error", timeout=10)
        while True:
            try:
                kind, message = self._results.get_nowait()
            except queue.Empty:
                break
            if kind == "save-failed":
                self.quit_after_save = None
                self.app.notify(message, title="Save failed", severity="error", timeout=8)
        now = time.monotonic()
        step = s.run.step
        if not self._rate or self._rate[-1][1] != step:
            self._rate.append((now, step))
        while len(self._rate) > 2 and now - self._rate[0][0] > RATE_WINDOW:
            self._rate.popleft()
        # While running, numbers change with every step: repaint them a few times a second, not at
        # each drain (every repaint is UI-thread time, which the training thread waits for).
        if state_changed or (events and (self.state != "running" or now - self._rendered_at >= STATUS_INTERVAL)):
            self._render_status()

    def _saved(self, e: CheckpointEvent) -> None:
        self.saved_step = e.step
        self.checkpoint_name = e.name
        self.app.notify(f"Saved {e.name} at step {e.step:,} → {e.path}", title="Checkpoint", timeout=4)
        then, self.quit_after_save = self.quit_after_save, None
        if then is not None:
            then()

    def steps_per_second(self) -> float | None:
        if self.state != "running" or len(self._rate) < 2:
            return None
        (t0, s0), (t1, s1) = self._rate[0], self._rate[-1]
        if t1 - t0 < 0.3:
            return None
        return (s1 - s0) / (t1 - t0)

    def _set_state(self, state: str, reason: str) -> None:
        self.state, self.reason = state, reason
        self._update_buttons()
        self._post_summary()

    def summary(self) -> str:
        """One line for the header: the state and epoch; the step too unless running (the header is
        re-laid-out on every change, so it must not change with each step)."""
        s = self.session
        if s is None:
            return self.state if self.state != "no run" else "no run — F6 starts one"
        run = s.run
        epoch = f"epoch {min(run.epoch + 1, run.config.epochs)}/{run.config.epochs}"
        if self.state == "running":
            return f"running · {epoch}"
        return f"{self.state} · step {run.step:,}/{run.total_steps:,} · {epoch}"

    def _update_buttons(self) -> None:
        running = self.state == "running"
        live = self.alive and not self.busy
        self.query_one("#btn-start", Button).disabled = running or self.busy
        pause = self.query_one("#btn-pause", Button)
        pause.disabled = not live or self.state not in ("running", "paused", "idle")
        pause.label = "Pause" if running or not live else "Resume"
        self.query_one("#btn-stop", Button).disabled = not live
        self.query_one("#btn-save", Button).disabled = self.session is None or self.busy
        self.query_one("#btn-step", Button).disabled = self.busy
        self.query_one("#btn-epoch", Button).disabled = self.busy

    def _render_status(self) -> None:
        s = self.session
        state_line = Text()
        state_line.append(f"● {self.state.upper()}", style=STATE_STYLE.get(self.state, "bold"))
        if self.reason and self.reason != "session opened":
            state_line.append(f"  {self.reason}", style="italic")
        metrics = Text()
        info = Text(style="dim")
        progress = self.query_one("#progress", RunProgress)
        if s is None:
            if self.last_error:
                metrics.append(f"✗ {self.last_error}", style="red")
            else:
                metrics.append("F6 starts a run with the settings on the left (ctrl+l shows/hides them), on the "
                               "dataset of the Dataset pane (F2).", style="dim")
            progress.set(None, None)
        else:
            run = s.run
            spe, total = run.steps_per_epoch, run.total_steps
            epoch = min(run.epoch + 1, run.config.epochs)
            state_line.append(f"   step {run.step:,}/{total:,} · epoch {epoch}/{run.config.epochs}")
            e = self.last_step_event
            if e is not None:
                metrics.append("loss ", style="dim").append(f"{e.loss:.4f}", style="bold")
                metrics.append("  acc ", style="dim").append(f"{e.accuracy:.1%}", style="bold")
            if self.last_eval is not None:
                v = self.last_eval
                metrics.append("  val loss ", style="dim").append(f"{v.loss:.4f}")
                metrics.append(" acc ", style="dim").append(f"{v.accuracy:.1%}", style="bold cyan")
            if e is not None:
                metrics.append("\nlr ", style="dim").append(f"{e.lr:.3g}")
                metrics.append("  grad ", style="dim").append(f"{e.grad_norm:.3g}")
                if self._tokens_per_s is not None:
                    metrics.append("  ", style="dim").append(f"{self._tokens_per_s:,.0f}").append(" tok/s", "dim")
            rate = self.steps_per_second()
            if rate is not None and rate > 0:
                metrics.append("  ").append(f"{rate:.1f}").append(" steps/s", "dim")
                metrics.append("  ETA ", style="dim").append(clock((total - run.step) / rate))
            if not metrics:
                where = f"At step {run.step:,}" if run.step else "No steps yet"
                metrics.append(f"{where}: F6 runs, F7 takes one step, F8 one epoch.", style="dim")
            if self.last_error and self.state == "paused":
                metrics.append(f"\n✗ {self.last_error}", style="red")
            in_epoch = run.batch_index if run.batch_index or not run.step else spe
            progress.set(1.0 if run.finished else in_epoch / spe, run.step / total)
            info.append(f"{run.config.model.kind} · {run.model.num_parameters:,} parameters · "
                        f"{run.config.dataset.task.describe()} · {run.config.dataset.n_train:,} train")
            if self.checkpoint_name:
                saved = "saved" if not self.has_unsaved_progress() else "unsaved steps"
                info.append(f" · checkpoint {self.checkpoint_name} ({saved})")
        extras = []
        if self.pace is not None:
            extras.append(f"pace {self.pace:g}/s")
        for key, fmt in UNTIL_TEXT.items():
            value = getattr(self.until, key)
            if value is not None:
                extras.append("until " + fmt.format(value))
        if extras:
            state_line.append("   " + " · ".join(extras), style="yellow")
        self._rendered_at = time.monotonic()
        for widget_id, text in (("run-state", state_line), ("run-metrics", metrics), ("run-info", info)):
            self._show(widget_id, text)
        self._post_summary()

    def _show(self, widget_id: str, text: Text) -> None:
        """Update a status line without a layout pass (one costs ~30 ms here, time the training thread
        would lose): the widget's height is set only when the wrapped text needs a different number of
        lines, which is rare; otherwise only the widget repaints — and not at all if the text is the same."""
        widget = self.query_one(f"#{widget_id}", Static)
        width = widget.content_region.width or widget.size.width
        if self._shown_text.get(widget_id) == (text.plain, width):
            return
        self._shown_text[widget_id] = (text.plain, width)
        lines = len(text.wrap(self.app.console, width)) if width > 0 else 1
        lines = max(1, min(lines, 4))
        if widget.styles.height is None or widget.styles.height.value != lines:
            widget.styles.height = lines
        widget.update(text, layout=False)

    def _post_summary(self) -> None:
        summary = self.summary()
        if summary == self._summary:
            return
        now = time.monotonic()
        if self.state == self._summary_state and self.state == "running" and now - self._summary_at < HEADER_INTERVAL:
            return  # only the epoch moved: the header can wait (a tiny dataset has several epochs a second)
        self._summary, self._summary_state, self._summary_at = summary, self.state, now
        self.post_message(self.StateChanged(self.state, summary))

    # -- charts -----------------------------------------------------------------------------------------------
    @property
    def charts(self) -> list[MetricChart]:
        if not self._charts:
            self._charts = list(self.query(MetricChart))  # cached: a DOM query costs ~10 ms here
        return self._charts

    def visible_charts(self) -> list[MetricChart]:
        return [c for c in self.charts if c.display and c.size.area > 0]

    def refresh_charts(self, force: bool = False, soon: bool = False) -> None:
        """Redraw visible charts whose data changed: all of them when ``force``d, else one per tick.

        One chart per tick keeps each burst of UI work short (~10–25 ms), and the next tick waits
        CHART_DUTY_FACTOR × what the last redraw cost the UI thread (plotext + compositing), so charts
        take at most ~1/CHART_DUTY_FACTOR of its time. That matters: the UI and training threads share
        the GIL, so UI time is taken from training almost one for one.
        """
        if not self.active and not force:
            return
        now = time.monotonic()
        if soon:
            self._next_chart_time = 0.0
        if not force and now < self._next_chart_time:
            return
        s = self.session
        history = s.history if s is not None else None
        visible = self.visible_charts()
        key = (id(history), s.run.step if s else -1, len(history.marks) if history else 0,
               tuple(c.id for c in visible), self.size)
        if key == self._chart_key and not force:
            return
        cpu = time.thread_time()
        if force or len(visible) <= 1:
            for chart in visible:
                chart.update_from(history)
            self._chart_key = key
        else:
            # Round robin: the first visible chart after the last one redrawn whose data changed.
            for i in range(len(visible)):
                chart = visible[(self._chart_turn + i) % len(visible)]
                if chart.update_from(history):
                    self._chart_turn = (self._chart_turn + i + 1) % len(visible)
                    break
            else:
                self._chart_key = key  # every chart is up to date

        def measured() -> None:
            cost = time.thread_time() - cpu
            self._next_chart_time = time.monotonic() + max(CHART_INTERVAL, cost * CHART_DUTY_FACTOR)

        self.call_after_refresh(measured)

    def select_chart(self, key: str) -> None:
        self._selected_chart = key
        for chart in self.charts:
            chart.set_class(chart.id == f"chart-{key}", "-selected")
        tabs = self.query_one("#chart-tabs", Tabs)
        if tabs.active != f"tab-{key}":
            tabs.active = f"tab-{key}"
        self.call_after_refresh(self.refresh_charts, True)

    @on(Tabs.TabActivated, "#chart-tabs")
    def _chart_tab(self, event: Tabs.TabActivated) -> None:
        if event.tab.id:
            self.select_chart(event.tab.id.removeprefix("tab-"))

    def on_resize(self) -> None:
        self.call_after_refresh(self._after_resize)

    def _after_resize(self) -> None:
        self._render_status()  # the status lines may wrap differently
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
        await self.app.run_action((event.button.id or "").removeprefix("btn-"))
