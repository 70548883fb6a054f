"""The Dataset pane's defects a newcomer met at 80×24 (issue 12): an empty validation split accepted,
nested paths that could not be saved, Enter in the path field doing nothing, internal names in errors,
12 sample rows and no way to reach the rest of the pane from the keyboard."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.containers import VerticalScroll
from textual.widgets import Input

from core.data.dataset import DatasetConfig, generate_dataset
from core.data.dataset_file import default_datasets_dir, save_dataset
from tests.app_support import (
    data_dir,  # noqa: F401 (used by pytestmark)
    isolated_models_dir,  # noqa: F401 (autouse: checkpoints go to a tmp dir)
    set_value,
    static_text,
    tiny_settings,
    wait_for,
    wait_for_screen,
)
from workbench.app import WorkbenchApp
from workbench.panes.dataset import SAMPLE_ROWS, SampleTable
from workbench.screens.confirm_dataset_save import ConfirmDatasetSaveScreen
from workbench.widgets.form import FieldRow

pytestmark = pytest.mark.usefixtures("data_dir")  # a dataset folder of each test's own, in a local app


async def _generate(pilot) -> WorkbenchApp:  # type: ignore[no-untyped-def]
    app = pilot.app
    await app.run_action("dataset('generate')")  # what ctrl+g runs
    await wait_for(pilot, lambda: app.dataset is not None and not app.dataset_pane.generating, what="the dataset")
    return app  # type: ignore[no-any-return]


async def _enter_path(pilot, path: str) -> None:  # type: ignore[no-untyped-def]
    await set_value(pilot, "#dataset-path", path)
    pilot.app.query_one("#dataset-path", Input).focus()
    await pilot.press("enter")


async def test_an_empty_validation_split_is_refused_with_the_reason() -> None:
    app = WorkbenchApp(initial_pane="dataset")
    async with app.run_test(size=(80, 24)) as pilot:
        await tiny_settings(pilot)
        await set_value(pilot, "#ds-n_val", "0")
        row = app.query_one("#ds-n_val-row", FieldRow)
        assert row.has_class("-error") and "at least 1" in row.error and "val run-until" in row.error
        assert app.dataset_pane.validate_form() is None
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert app.dataset is None and not app.dataset_pane.generating
        assert "Fix the highlighted fields" in static_text(app, "#dataset-message")
        assert app.training.validate_form() is None  # nor can a run start on it


async def test_a_loaded_dataset_without_validation_says_so() -> None:
    dataset = generate_dataset(DatasetConfig(n_train=40, n_val=0, n_test=10))
    save_dataset(dataset, "noval.json")
    app = WorkbenchApp(initial_pane="dataset")
    async with app.run_test(size=(80, 24)) as pilot:
        await _enter_path(pilot, "noval.json")  # an existing file: Enter loads it
        await wait_for(pilot, lambda: app.dataset is not None, what="the load")
        summary = static_text(app, "#dataset-summary")
        assert "no validation split" in summary and "cannot stop on a val condition" in summary
        assert "at least 1" in app.query_one("#ds-n_val-row", FieldRow).error


async def test_enter_saves_to_a_nested_path_creating_the_folder_then_loads_it() -> None:
    app = WorkbenchApp(initial_pane="dataset")
    async with app.run_test(size=(80, 24)) as pilot:
        await tiny_settings(pilot)
        await _generate(pilot)
        original = app.dataset
        target = default_datasets_dir() / "data" / "nested.json"
        assert not target.parent.exists()
        await _enter_path(pilot, "data/nested.json")  # no file there: Enter saves, inside: no question
        await wait_for(pilot, target.exists, what="the file")
        await wait_for(pilot, lambda: "Saved" in static_text(app, "#dataset-message"), what="the message")
        await set_value(pilot, "#ds-seed", "7")
        await _enter_path(pilot, "data/nested.json")  # the file exists now: Enter loads it
        await wait_for(pilot, lambda: app.dataset is not original, what="the load")
        assert "Loaded" in static_text(app, "#dataset-message")
        assert app.query_one("#ds-seed", Input).value == "0"


async def test_an_outside_nested_path_creates_its_folders_after_a_yes(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "deeper" / "out.json"
    app = WorkbenchApp(initial_pane="dataset")
    async with app.run_test(size=(80, 24)) as pilot:
        await tiny_settings(pilot)
        await _generate(pilot)
        await _enter_path(pilot, str(target))
        await wait_for_screen(pilot, ConfirmDatasetSaveScreen)
        assert f"The folder {tmp_path / 'elsewhere'} does not exist yet" in static_text(
            app, "#confirm-dataset-question")
        await pilot.press("y")
        await wait_for(pilot, target.exists, what="the file")


async def test_enter_with_nothing_to_save_or_load_says_why() -> None:
    app = WorkbenchApp(initial_pane="dataset")
    async with app.run_test(size=(80, 24)) as pilot:
        await _enter_path(pilot, "missing.json")
        await pilot.pause()
        message = static_text(app, "#dataset-message")
        assert "No file" in message and "Generate one first" in message


async def test_samples_page_through_the_whole_split() -> None:
    app = WorkbenchApp(initial_pane="dataset")
    async with app.run_test(size=(80, 24)) as pilot:
        await tiny_settings(pilot)
        await _generate(pilot)
        assert app.dataset is not None
        table = app.query_one("#samples", SampleTable)
        labels = [str(c.label) for c in table.columns.values()]
        assert labels.index("answer") < labels.index("expression")  # a long expression cannot hide it
        assert table.row_count == SAMPLE_ROWS and "rows 1–100 of 320" in static_text(app, "#samples-page")
        table.focus()
        await pilot.press("n")
        assert str(table.get_row_at(0)[0]) == "101" and str(table.get_row_at(0)[3]) == app.dataset.train[100].text
        await pilot.press("n", "n")
        assert table.row_count == 20 and "rows 301–320 of 320" in static_text(app, "#samples-page")
        await pilot.press("p")
        assert str(table.get_row_at(0)[0]) == "201"
        await pilot.press("ctrl+end")
        assert table.cursor_row == table.row_count - 1
        ex = app.dataset.train[299]  # the highlighted example in full, however long
        await wait_for(pilot, lambda: static_text(app, "#sample-detail") == f"300: {ex.text} = {ex.answer}",
                       what="the highlighted example")


async def test_the_right_column_scrolls_by_keyboard_down_to_the_histograms() -> None:
    app = WorkbenchApp(initial_pane="dataset")
    async with app.run_test(size=(80, 24)) as pilot:
        await tiny_settings(pilot)
        await _generate(pilot)
        view = app.query_one("#dataset-view", VerticalScroll)
        view.focus()
        await pilot.press("end")
        await pilot.pause()
        coverage = app.query_one("#stats-coverage")
        assert view.max_scroll_y > 0 and view.scroll_y == view.max_scroll_y
        assert app.screen.region.overlaps(coverage.region)
