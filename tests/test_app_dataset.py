"""The Dataset pane as a user drives it: generate, inspect, reject bad values, save and load files."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Button, DataTable, Input, Select

from core.train.presets import preset
from tests.app_support import (
    isolated_models_dir,  # noqa: F401 (autouse: checkpoints go to a tmp dir)
    set_value,
    static_text,
    tiny_settings,
    wait_for,
    wait_for_screen,
)
from workbench.app import WorkbenchApp
from workbench.panes.dataset import SAMPLE_ROWS
from workbench.screens.confirm_dataset_save import ConfirmDatasetSaveScreen
from workbench.widgets.form import FieldRow


async def _generate(app: WorkbenchApp, pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("ctrl+g")
    await wait_for(pilot, lambda: app.dataset is not None and not app.dataset_pane.generating, what="the dataset")


async def test_generate_shows_samples_and_distributions() -> None:
    app = WorkbenchApp(initial_pane="dataset")
    async with app.run_test(size=(120, 40)) as pilot:
        await tiny_settings(pilot)
        app.query_one("#op-Second").toggle()  # type: ignore[attr-defined]
        await pilot.pause()
        await _generate(app, pilot)
        assert app.dataset is not None
        config = app.dataset.config
        assert (config.n_train, config.n_val, config.n_test) == (320, 64, 64)
        assert "Second" not in config.task.operations
        table = app.query_one("#samples", DataTable)
        assert table.row_count == SAMPLE_ROWS
        first = str(table.get_row_at(0)[3])  # the expression is the last column (after the answer)
        assert first == app.dataset.train[0].text
        ops = static_text(app, "#stats-ops")
        for op in ("First", "Last", "Max", "Min"):
            assert op in ops
        assert "Second" not in ops
        assert "320 examples" in static_text(app, "#dataset-summary")
        assert "Generated 448 examples" in static_text(app, "#dataset-message")
        # the training pane now trains on it
        assert app.training.validate_form() is not None
        assert app.training.validate_form().dataset == config  # type: ignore[union-attr]


async def test_invalid_values_are_flagged_at_the_field_with_the_reason() -> None:
    app = WorkbenchApp(initial_pane="dataset")
    async with app.run_test(size=(120, 40)) as pilot:
        field = app.query_one("#ds-n_train", Input)
        field.focus()
        field.value = ""
        await pilot.press(*"12x")
        row = app.query_one("#ds-n_train-row", FieldRow)
        assert row.has_class("-error")
        assert "whole number" in static_text(app, "#ds-n_train-row .field-error")
        assert field.has_class("-invalid")
        await set_value(pilot, "#ds-n_train", "320")
        await wait_for(pilot, lambda: not row.has_class("-error"), what="n_train accepted")
        # a rule of the core, across two fields: shown at the field it names
        await set_value(pilot, "#ds-min_args", "5")
        max_row = app.query_one("#ds-max_args-row", FieldRow)
        await wait_for(pilot, lambda: max_row.has_class("-error"), what="max args flagged")
        # in the form's words: its labels, not the config's names
        assert "max args (3) must be at least min args (5)" in static_text(app, "#ds-max_args-row .field-error")
        assert "max args (3)" in static_text(app, "#dataset-config-status")
        await pilot.press("ctrl+g")
        assert app.dataset is None
        assert "Fix the highlighted fields" in static_text(app, "#dataset-message")
        # no operation at all
        await set_value(pilot, "#ds-min_args", "3")
        for op in ("First", "Second", "Last", "Max", "Min"):
            app.query_one(f"#op-{op}").value = False  # type: ignore[attr-defined]
        await pilot.pause()
        assert "at least one operation" in static_text(app, "#ops-row .field-error")
        # out of range
        await set_value(pilot, "#ds-n_val", "2000000")
        assert "between 0 and 1,000,000" in static_text(app, "#ds-n_val-row .field-error")


async def test_a_too_small_task_for_the_held_out_splits_is_explained() -> None:
    app = WorkbenchApp(initial_pane="dataset")
    async with app.run_test(size=(120, 40)) as pilot:
        await tiny_settings(pilot, n_val="900", n_test="900")
        app.query_one("#op-Second").value = False  # type: ignore[attr-defined]
        await set_value(pilot, "#ds-min_args", "1")
        await set_value(pilot, "#ds-max_args", "1")
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: not app.dataset_pane.generating, what="generation to fail")
        assert app.dataset is None
        assert "distinct" in static_text(app, "#dataset-message")
        assert app.query_one("#dataset-message").has_class("error")


async def test_save_then_load_a_dataset_and_errors_are_visible(tmp_path: Path) -> None:
    app = WorkbenchApp(initial_pane="dataset")
    async with app.run_test(size=(120, 40)) as pilot:
        await tiny_settings(pilot)
        await _generate(app, pilot)
        original = app.dataset
        assert original is not None
        path = tmp_path / "tiny.json"
        await set_value(pilot, "#dataset-path", str(path))
        app.query_one("#dataset-save", Button).press()
        await wait_for_screen(pilot, ConfirmDatasetSaveScreen)  # tmp_path is outside the datasets folder
        await pilot.press("y")
        await wait_for(pilot, path.exists, what="the file")
        await wait_for(pilot, lambda: "Saved" in static_text(app, "#dataset-message"))
        # change the form, then load the file back: the form follows the file
        await set_value(pilot, "#ds-seed", "7")
        app.query_one("#dataset-load", Button).press()
        await wait_for(pilot, lambda: app.dataset is not original, what="the load")
        assert "Loaded" in static_text(app, "#dataset-message")
        assert app.dataset is not None
        assert app.dataset.config == original.config
        assert [e.text for e in app.dataset.train] == [e.text for e in original.train]
        assert app.query_one("#ds-seed", Input).value == "0"
        # a broken file: the reason is shown, the dataset kept
        bad = tmp_path / "bad.json"
        bad.write_text('{"format": "llmlearn-dataset", "version": 1, "config"')
        await set_value(pilot, "#dataset-path", str(bad))
        app.query_one("#dataset-load", Button).press()
        await wait_for(pilot, lambda: app.query_one("#dataset-message").has_class("error"), what="the error")
        assert "not valid JSON" in static_text(app, "#dataset-message")
        assert app.dataset is not None


async def test_a_preset_sets_the_task_generates_it_and_sets_the_model_and_optimiser() -> None:
    app = WorkbenchApp(initial_pane="dataset")
    async with app.run_test(size=(120, 40)) as pilot:
        app.query_one("#preset-select", Select).value = "grokking"
        await wait_for(pilot, lambda: app.dataset is not None and not app.dataset_pane.generating,
                       what="the preset's dataset")
        assert app.dataset is not None
        config = app.dataset.config
        assert config.task.operations == ("Sum",) and config.strategy == "all" and config.task.max_args == 2
        assert app.query_one("#op-Sum").value and not app.query_one("#op-Max").value  # type: ignore[attr-defined]
        assert "weight decay" in static_text(app, "#preset-note")
        run = app.training.validate_form()
        assert run is not None and run.optimizer.name == "adamw" and run.optimizer.weight_decay == 1.0
        assert run.optimizer.batch_size == config.n_train and run.model.n_layers == 1  # full batch
        assert run.model.vocab_size == 22
        # every setting of the preset reached the forms: the app trains exactly what the CLI's --preset does
        assert run.to_dict() == preset("grokking").run_config().to_dict()
        assert app.query_one("#lr-input", Input).value == "0.002"  # the steering bar shows the lr a run starts at


async def test_an_operation_box_shows_its_state_in_its_glyph_not_only_its_colour() -> None:
    """Textual's Checkbox draws X whether ticked or not (colour alone told them apart): all seven
    operations looked chosen while only the five defaults were."""
    app = WorkbenchApp(initial_pane="dataset")
    async with app.run_test(size=(120, 40)) as pilot:
        boxes = {op: app.query_one(f"#op-{op}") for op in ("Max", "Sum")}
        drawn = {op: str(box.render()) for op, box in boxes.items()}
        assert "✓" in drawn["Max"] and "✓" not in drawn["Sum"] and "X" not in drawn["Sum"], drawn
        boxes["Sum"].value = True  # type: ignore[attr-defined]
        await pilot.pause()
        assert "✓" in str(boxes["Sum"].render())


async def test_a_preset_chosen_during_a_run_says_that_f6_resumes_the_current_one() -> None:
    """With a paused run, F6 resumes it: the notice said "start it in Training (F6)", and F6 went on
    training the old run with no word."""
    app = WorkbenchApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await tiny_settings(pilot)
        await app.run_action("step")
        await wait_for(pilot, lambda: app.controller.alive and app.controller.state == "paused", what="a paused run")
        pane = await app.ensure_pane("dataset")
        pane.query_one("#preset-select", Select).value = "grokking"
        await wait_for(pilot, lambda: any(n.title == "preset" for n in app._notifications), what="the notice")
        notice = next(n.message for n in app._notifications if n.title == "preset")
        assert "F6 resumes the current one" in notice and "New run" in notice
        assert "start it in Training (F6)" not in notice
