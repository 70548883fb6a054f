"""The Dataset pane: choose a task and split sizes, generate (in a thread), inspect, save and load.

The dataset shown here is the one the next training run uses (``app.dataset``). Generation and file I/O
run in thread workers so the UI stays live for million-example sets; the generator's progress callback
only stores numbers that a UI timer turns into the ProgressBar (it never touches a widget).

Saving asks first (``ConfirmDatasetSaveScreen``) when the resolved path is outside the datasets folder
or a dataset file is already there; a path that is never written (a folder, FIFO, device, symlink, a
file that is not a dataset file) is refused with the reason. In a served app (``workbench.served``) a
path outside the datasets folder is refused without asking: whoever types may not be the user.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Container, Grid, Horizontal, VerticalScroll
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Button, Checkbox, DataTable, Input, Label, ProgressBar, Select, Static
from textual.worker import get_current_worker

from core.data.answer_format import format_answer
from core.data.dataset import (
    SPLIT_NAMES,
    Dataset,
    DatasetConfig,
    generate_dataset,
)
from core.data.dataset_file import (
    SaveTarget,
    check_save_target,
    dataset_path,
    default_datasets_dir,
    load_dataset,
    save_dataset,
)
from core.data.operations import DEFAULT_OPERATIONS, OPERATIONS
from core.errors import LLMLearnError
from core.train.presets import PRESETS, Preset, preset
from workbench.render.dataset import bar_chart, coverage_sections
from workbench.screens.confirm_dataset_save import ConfirmDatasetSaveScreen
from workbench.served import is_served
from workbench.settings_fields import DATASET_FIELDS, dataset_config_from_form, dataset_form_values
from workbench.widgets.form import FieldRow, FocusRow, field_for_message, read_fields
from workbench.widgets.sample_table import SampleTable
from workbench.widgets.tick_box import TickBox

SAMPLE_ROWS = 100  # rows of one page of the samples table (n / p page through the whole split)

OPS_KEY = "operations"
#: Why the validation split may not be empty: everything that reads validation results would wait for ever.
NO_VALIDATION = "must be at least 1: val accuracy, the per-operation chart and val run-until need it"


def in_labels(message: str) -> str:
    """A core message with the config names it uses (``max_args``) replaced by the form's labels
    (``max args``), so the reason reads like the form the user is looking at."""
    for spec in DATASET_FIELDS:
        for name in {spec.key, spec.option_name, *spec.aliases}:
            if name != spec.label and "_" in name:
                message = re.sub(rf"(?<![\w]){re.escape(name)}(?![\w])", spec.label, message)
    return message


def _shown(path: str) -> Path:
    """``path`` as the file it names: in the datasets folder when relative, ``..`` and symlinks resolved."""
    p = dataset_path(path)
    try:
        return p.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop; show it as typed
        return p


class _CancelledError(Exception):
    """Raised inside the progress callback to abandon a generation the user replaced."""


@dataclass(frozen=True)
class DatasetStats:
    """Everything the pane shows about a dataset, computed in the worker (stats of a 1M split take a while)."""

    by_split: dict[str, dict[str, Any]]
    seconds: float = 0.0


def compute_stats(dataset: Dataset) -> DatasetStats:
    return DatasetStats({name: dataset.stats(name) for name in SPLIT_NAMES})


class DatasetPane(Container):
    """Task form + generate/save/load on the left; samples and distributions of the dataset on the right."""

    class DatasetChanged(Message):
        """A dataset was generated or loaded: the next training run will use it."""

        def __init__(self, dataset: Dataset) -> None:
            super().__init__()
            self.dataset = dataset

    class FormChanged(Message):
        """The form now describes ``config`` (None while it has errors): the next run's dataset, until
        one is generated."""

        def __init__(self, config: DatasetConfig | None) -> None:
            super().__init__()
            self.config = config

    class PresetChosen(Message):
        """A preset was chosen: its task is in the form (and being generated); the app sets the model and
        optimiser it comes with in the Training pane."""

        def __init__(self, preset: Preset) -> None:
            super().__init__()
            self.preset = preset

    def __init__(self, dataset: Dataset | None = None, id: str | None = None) -> None:
        """``dataset``: the one the app trains on (built on the pane's first visit, after a run made one)."""
        super().__init__(id=id)
        self._initial = dataset
        self.dataset: Dataset | None = None
        self.stats: DatasetStats | None = None
        self.generating = False
        self._progress: tuple[int, int] = (0, 0)
        self._progress_timer: Timer | None = None
        self._rows: list[FieldRow] = []
        self._validate_pending = False
        self.page = 0  # the page of the samples table shown (SAMPLE_ROWS rows each)
        self.served = is_served()  # read once: the environment of a served app does not change

    # -- layout ---------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="dataset-body"):
            with VerticalScroll(id="dataset-form", classes="form"):
                yield Static("", id="dataset-config-status")
                yield Label("preset", classes="field-label")
                yield Select([(p.title, p.name) for p in PRESETS.values()], prompt="choose a preset…",
                             id="preset-select", compact=True,
                             tooltip="A task with a model and optimiser that suit it; the form below shows it and "
                                     "can still be changed")
                yield Static("", id="preset-note")
                yield Static("Task", classes="section-title")
                yield Label("operations", classes="field-label")
                with FocusRow(id="ops-row", classes="field-row"):
                    with Grid(id="ops"):
                        for op in OPERATIONS:
                            yield TickBox(op, value=op in DEFAULT_OPERATIONS, compact=True, id=f"op-{op}")
                    yield Static("the operations the expressions use (space ticks one)", classes="field-help")
                    yield Static("", classes="field-error")
                for spec in DATASET_FIELDS[:4]:
                    yield FieldRow(spec, "ds")
                yield Static("Data", classes="section-title")
                for spec in DATASET_FIELDS[4:]:
                    yield FieldRow(spec, "ds")
                with Horizontal(classes="button-row"):
                    yield Button("Generate", id="generate", variant="primary", compact=True,
                                 tooltip="Generate the dataset (ctrl+g, or Enter in a field)")
                yield ProgressBar(total=1, id="gen-progress", show_eta=False)
                yield Static("File", classes="section-title")
                yield Input(placeholder="path, e.g. data/max-task.json ⏎", id="dataset-path", compact=True,
                            tooltip="Enter loads the file if it exists, else saves the dataset there. A "
                                    f"relative path is inside your datasets folder {default_datasets_dir()}")
                with Horizontal(classes="button-row"):
                    yield Button("Save", id="dataset-save", compact=True)
                    yield Button("Load", id="dataset-load", compact=True)
                yield Static("", id="dataset-message")
            with VerticalScroll(id="dataset-view"):
                yield Static("No dataset yet: set the task on the left and press Generate (ctrl+g).",
                             id="dataset-summary")
                with Horizontal(id="split-row"):
                    yield Label("split ", classes="field-label")
                    yield Select([(s, s) for s in SPLIT_NAMES], value="train", allow_blank=False, compact=True,
                                 id="split-select")
                yield SampleTable(id="samples", cursor_type="row", zebra_stripes=True)
                yield Static("", id="samples-page", classes="samples-page")
                yield Static("", id="sample-detail", classes="samples-page", markup=False)
                yield Static("", id="stats-ops", classes="stats")
                yield Static("", id="stats-args", classes="stats")
                yield Static("", id="stats-lengths", classes="stats")
                yield Static("", id="stats-coverage", classes="stats")

    def on_mount(self) -> None:
        table = self.query_one("#samples", DataTable)
        # The answer before the expression: a long (nested, 0–99) expression must not push it off screen.
        table.add_columns("#", "answer", "tokens", "expression")
        self.query_one("#gen-progress", ProgressBar).display = False
        self.validate_form()
        if self._initial is not None:
            self.show_dataset(self._initial)

    # -- the form ---------------------------------------------------------------------------------------
    @property
    def rows(self) -> list[FieldRow]:
        if not self._rows:
            self._rows = list(self.query(FieldRow))  # cached: queries are not free
        return self._rows

    def row(self, key: str) -> FieldRow:
        return self.query_one(f"#ds-{key}-row", FieldRow)

    def selected_operations(self) -> tuple[str, ...]:
        return tuple(op for op in OPERATIONS if self.query_one(f"#op-{op}", Checkbox).value)

    def validate_form(self) -> DatasetConfig | None:
        """Check every field and the core's rules; show each reason at its field. The config, or None."""
        values, errors = read_fields(self.rows)
        ops = self.selected_operations()
        config: DatasetConfig | None = None
        form_error = ""
        if not ops:
            errors[OPS_KEY] = "choose at least one operation"
        if values.get("n_val") == 0:
            errors["n_val"] = NO_VALIDATION
        if not errors:
            try:
                config = dataset_config_from_form(values, ops)
            except LLMLearnError as exc:
                key = field_for_message(str(exc), DATASET_FIELDS) or (OPS_KEY if "operation" in str(exc) else None)
                if key:
                    errors[key] = in_labels(str(exc))
                form_error = in_labels(str(exc))
        for row in self.rows:
            row.set_error(errors.get(row.spec.key))
        ops_row = self.query_one("#ops-row")
        ops_row.query_one(".field-error", Static).update(f"↳ {errors[OPS_KEY]}" if OPS_KEY in errors else "")
        ops_row.set_class(OPS_KEY in errors, "-error")
        status = self.query_one("#dataset-config-status", Static)
        if config is not None:
            note = ""
            if self.dataset is not None and self.dataset.config != config:
                note = "\n[b]changed[/] since the shown dataset — Generate to apply"
            status.update(f"[green]✓[/] {config.task.describe()}{note}")
            status.set_classes("ok")
        else:
            n = len(errors)
            status.update(form_error or f"✗ {n} field{'s' if n != 1 else ''} to fix")
            status.set_classes("error")
        return config

    def read_config(self) -> DatasetConfig | None:
        return self.validate_form()

    def set_form(self, config: DatasetConfig) -> None:
        """Show ``config`` in the form (after loading a dataset or a checkpoint)."""
        task = config.task
        with self.prevent(Input.Changed, Select.Changed, Checkbox.Changed):
            for op in OPERATIONS:
                self.query_one(f"#op-{op}", Checkbox).value = op in task.operations
            for key, value in dataset_form_values(config).items():
                self.row(key).set_value(value)
        self.validate_form()

    @on(Select.Changed, "#preset-select")
    def _preset_chosen(self, event: Select.Changed) -> None:
        event.stop()
        if not isinstance(event.value, str):
            return
        self.choose_preset(preset(event.value))

    def choose_preset(self, chosen: Preset) -> None:
        """Show ``chosen``'s task in the form, generate it, and tell the app (which sets the model)."""
        with self.prevent(Select.Changed):
            self.query_one("#preset-select", Select).value = chosen.name
        self.query_one("#preset-note", Static).update(chosen.what)
        self.set_form(chosen.run_config().dataset)
        self.post_message(self.PresetChosen(chosen))
        self.generate()

    @on(Input.Changed, "#dataset-form Input")
    @on(Select.Changed, "#dataset-form Select")
    @on(Checkbox.Changed)
    def _form_changed(self, event: Message) -> None:
        if isinstance(event, Input.Changed) and event.input.id == "dataset-path":
            return
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
        self.post_message(self.FormChanged(self.validate_form()))

    @on(Input.Submitted, "#dataset-form FieldRow Input")
    def _field_submitted(self, event: Input.Submitted) -> None:
        """Enter in a field of the form generates the dataset it describes (as the Generate button)."""
        event.stop()
        self.generate()

    # -- generation ------------------------------------------------------------------------------------
    def generate(self) -> bool:
        """Start generating the dataset the form describes (replacing a generation in progress)."""
        config = self.validate_form()
        if config is None:
            self.show_message("Fix the highlighted fields first.", error=True)
            return False
        self.generating = True
        self._progress = (0, config.n_train + config.n_val + config.n_test)
        bar = self.query_one("#gen-progress", ProgressBar)
        bar.display = True
        bar.update(total=self._progress[1], progress=0)
        if self._progress_timer is None:
            self._progress_timer = self.set_interval(0.1, self._show_progress)
        self.show_message(f"Generating {config.n_train + config.n_val + config.n_test:,} examples…")
        self._generate(config)
        return True

    def _show_progress(self) -> None:
        done, total = self._progress
        self.query_one("#gen-progress", ProgressBar).update(total=max(total, 1), progress=done)

    def _stop_progress(self) -> None:
        self.generating = False
        if self._progress_timer is not None:
            self._progress_timer.stop()
            self._progress_timer = None
        self.query_one("#gen-progress", ProgressBar).display = False

    @work(thread=True, exclusive=True, group="dataset", exit_on_error=False)
    def _generate(self, config: DatasetConfig) -> None:
        worker = get_current_worker()

        def progress(done: int, total: int) -> None:
            if worker.is_cancelled:
                raise _CancelledError
            self._progress = (done, total)

        t0 = time.perf_counter()
        try:
            dataset = generate_dataset(config, progress)
            stats = compute_stats(dataset)
        except _CancelledError:
            return
        except LLMLearnError as exc:
            self.app.call_from_thread(self._failed, str(exc))
            return
        if not worker.is_cancelled:
            elapsed = time.perf_counter() - t0
            n = config.n_train + config.n_val + config.n_test
            message = f"Generated {n:,} examples in {elapsed:.1f} s."
            self.app.call_from_thread(self.show_dataset, dataset, stats, message)

    def _failed(self, message: str) -> None:
        self._stop_progress()
        key = field_for_message(message, DATASET_FIELDS)
        message = in_labels(message)
        if key:
            self.row(key).set_error(message)
        self.show_message(message, error=True)

    # -- showing a dataset ---------------------------------------------------------------------------
    def show_dataset(self, dataset: Dataset, stats: DatasetStats | None = None, message: str = "") -> None:
        """Make ``dataset`` the current one: form, samples, distributions; tell the app."""
        self._stop_progress()
        self.dataset = dataset
        self.page = 0
        self.stats = stats or compute_stats(dataset)
        if dataset.config != self.validate_form():
            self.set_form(dataset.config)
        self.validate_form()
        self._render_view()
        if message:
            self.show_message(message)
        self.post_message(self.DatasetChanged(dataset))

    def _render_view(self) -> None:
        dataset, stats = self.dataset, self.stats
        if dataset is None or stats is None:
            return
        cfg = dataset.config
        split = str(self.query_one("#split-select", Select).value)
        s = stats.by_split[split]
        summary = Text()
        summary.append(cfg.task.describe(), style="bold")
        summary.append(f"\ntrain {cfg.n_train:,} · val {cfg.n_val:,} · test {cfg.n_test:,} · seed {cfg.seed}"
                       f" · {cfg.strategy}")
        summary.append(f"\n{split}: {s['n']:,} examples, {s['distinct']:,} distinct expressions", style="dim")
        if cfg.n_val == 0:
            summary.append("\nno validation split: training shows no val loss or accuracy, no per-operation "
                           "chart, and cannot stop on a val condition (set n_val ≥ 1 and Generate)",
                           style="bold yellow")
        self.query_one("#dataset-summary", Static).update(summary)
        self._render_samples()
        self.query_one("#stats-ops", Static).update(self._section("per operation", s["by_operation"]))
        self.query_one("#stats-args", Static).update(self._section("arguments", s["by_n_args"]))
        self.query_one("#stats-lengths", Static).update(self._section("tokens", s["token_lengths"]))
        coverage = Table.grid()
        for title, counts in coverage_sections(s, cfg.task.max_value):
            coverage.add_row(self._section(title, counts))
        self.query_one("#stats-coverage", Static).update(coverage)

    def _render_samples(self) -> None:
        """The current page of the split's examples, and which rows of how many it is."""
        if self.dataset is None:
            return
        examples = self.dataset.split(str(self.query_one("#split-select", Select).value))
        pages = max(1, -(-len(examples) // SAMPLE_ROWS))
        self.page = min(max(self.page, 0), pages - 1)
        first = self.page * SAMPLE_ROWS
        table = self.query_one("#samples", SampleTable)
        table.clear()
        for i, ex in enumerate(examples[first:first + SAMPLE_ROWS], start=first + 1):
            table.add_row(f"{i:,}", format_answer(ex.answer), str(len(ex.expression.tokens())), ex.text)
        shown = (f"rows {first + 1:,}–{first + table.row_count:,} of {len(examples):,}" if examples
                 else "no examples in this split")
        keys = " · n / p next / previous page" if pages > 1 else ""
        self.query_one("#samples-page", Static).update(Text(f"{shown}{keys} (table focused)" if keys else shown,
                                                            style="dim"))

    @on(DataTable.RowHighlighted, "#samples")
    def _sample_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The highlighted example in full, wrapped: a long nested expression is cut in its column."""
        event.stop()
        table = self.query_one("#samples", SampleTable)
        if table.row_count == 0 or not 0 <= event.cursor_row < table.row_count:
            self.query_one("#sample-detail", Static).update("")
            return
        number, answer, _, text = (str(cell) for cell in table.get_row_at(event.cursor_row))
        self.query_one("#sample-detail", Static).update(f"{number}: {text} = {answer}")

    @on(SampleTable.Paged)
    def _paged(self, event: SampleTable.Paged) -> None:
        event.stop()
        before = self.page
        self.page += event.delta
        self._render_samples()
        if self.page == before:
            self.app.bell()

    @staticmethod
    def _section(title: str, counts: dict[Any, int]) -> Table:
        grid = Table.grid()
        grid.add_row(Text(title, style="bold underline"))
        grid.add_row(bar_chart(counts) if counts else Text("—", style="dim"))
        return grid

    @on(Select.Changed, "#split-select")
    def _split_changed(self) -> None:
        self.page = 0
        self._render_view()

    # -- files -------------------------------------------------------------------------------------------
    def _path(self) -> str | None:
        path = self.query_one("#dataset-path", Input).value.strip()
        if not path:
            self.show_message("Enter a file path first (e.g. data/max-task.json).", error=True)
            # After the app's own focus move when it shows this pane (its call_after_refresh comes first).
            self.app.call_after_refresh(self.query_one("#dataset-path", Input).focus)
            return None
        return path

    def save(self) -> None:
        """Save to the path in the field: at once inside the datasets folder, after a yes outside it or
        over an existing dataset file, never over anything else (nor outside at all when served)."""
        dataset = self.dataset
        if dataset is None:
            self.show_message("Nothing to save: generate or load a dataset first.", error=True)
            return
        path = self._path()
        if not path:
            return
        try:  # lstat and at most 64 KiB of an existing file, never blocking: fine on the UI thread
            target = check_save_target(path)
        except LLMLearnError as exc:
            self.show_message(str(exc), error=True)
            return
        if not target.inside and self.served:
            self.show_message(f"{target.path} is outside your datasets folder {target.folder}; a served "
                              "workbench saves only there.", error=True)
            return
        if target.inside and not target.exists:
            self._start_save(dataset, target)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._start_save(dataset, target)
            else:
                self.show_message(f"Not saved: {target.path} left as it was.")

        self.app.push_screen(ConfirmDatasetSaveScreen(target), answered)

    def _start_save(self, dataset: Dataset, target: SaveTarget) -> None:
        """Write with exactly the permissions the user gave (``save_dataset`` checks the target again)."""
        self.show_message(f"Saving to {target.path}…")
        self._save(dataset, target.path, target.exists, not target.inside)

    @work(thread=True, exclusive=True, group="dataset-file", exit_on_error=False)
    def _save(self, dataset: Dataset, path: Path, overwrite: bool, allow_outside: bool) -> None:
        try:
            written = save_dataset(dataset, path, overwrite=overwrite, allow_outside=allow_outside)
        except LLMLearnError as exc:
            self.app.call_from_thread(self.show_message, str(exc), True)
            return
        self.app.call_from_thread(self.show_message, f"Saved {dataset!r} to {written}.")

    @on(Input.Submitted, "#dataset-path")
    def _path_submitted(self, event: Input.Submitted) -> None:
        """Enter in the path field: a dataset file that exists there is loaded; otherwise the current
        dataset is saved there (creating the folders); with no dataset and no file, it says so."""
        event.stop()
        path = self._path()
        if not path:
            return
        try:
            exists = _shown(path).is_file()
        except OSError:
            exists = False
        if exists:
            self.load()
        elif self.dataset is not None:
            self.save()
        else:
            self.show_message(f"No file {_shown(path)} to load, and no dataset to save there yet: "
                              "Generate one first (ctrl+g).", error=True)

    def load(self) -> None:
        path = self._path()
        if path:
            self.show_message(f"Loading {_shown(path)}…")
            self._load(path)

    @work(thread=True, exclusive=True, group="dataset-file", exit_on_error=False)
    def _load(self, path: str) -> None:
        try:
            dataset = load_dataset(path)
            stats = compute_stats(dataset)
        except LLMLearnError as exc:
            self.app.call_from_thread(self.show_message, str(exc), True)
            return
        self.app.call_from_thread(self.show_dataset, dataset, stats, f"Loaded {_shown(path)}.")

    def show_message(self, message: str, error: bool = False) -> None:
        """A visible one-line status under the file controls (errors in the error colour)."""
        widget = self.query_one("#dataset-message", Static)
        widget.update(Text(("✗ " if error else "") + message))
        widget.set_classes("error" if error else "info")
        if error:
            self.app.notify(message, title="Dataset", severity="error", timeout=6)

    @on(Button.Pressed, "#generate")
    def _on_generate(self) -> None:
        self.generate()

    @on(Button.Pressed, "#dataset-save")
    def _on_save(self) -> None:
        self.save()

    @on(Button.Pressed, "#dataset-load")
    def _on_load(self) -> None:
        self.load()
