"""Saving a dataset from the app as a user (or someone typing into a served app) would: inside the
datasets folder at once, outside it only after a yes, over an existing file only after a yes, over
anything that is not a dataset file never — and in a served app outside paths are refused unasked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from textual.widgets import Button

from core.data.dataset_file import default_datasets_dir
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
from workbench.screens.confirm_dataset_save import ConfirmDatasetSaveScreen
from workbench.served import SERVED_ENV, is_served

pytestmark = pytest.mark.usefixtures("data_dir")  # a dataset folder of each test's own, in a local app


async def _ready(pilot) -> WorkbenchApp:  # type: ignore[no-untyped-def]
    app = pilot.app
    await tiny_settings(pilot)
    await pilot.press("ctrl+g")
    await wait_for(pilot, lambda: app.dataset is not None and not app.dataset_pane.generating, what="the dataset")
    return app  # type: ignore[no-any-return]


async def _save(pilot, path: str) -> None:  # type: ignore[no-untyped-def]
    await set_value(pilot, "#dataset-path", path)
    pilot.app.query_one("#dataset-save", Button).press()
    await pilot.pause()


def _message(app: WorkbenchApp) -> str:
    return static_text(app, "#dataset-message")


async def test_an_outside_path_asks_first_and_no_writes_nothing(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / ".." / "out.json"  # shown resolved: tmp_path/out.json
    async with WorkbenchApp(initial_pane="dataset").run_test(size=(120, 40)) as pilot:
        app = await _ready(pilot)
        await _save(pilot, str(outside))
        await wait_for_screen(pilot, ConfirmDatasetSaveScreen)
        question = static_text(app, "#confirm-dataset-question")
        assert f"{tmp_path / 'out.json'} is outside your datasets folder {default_datasets_dir()}" in question
        assert "Save there?" in question
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmDatasetSaveScreen), what="the answer")
        assert "Not saved" in _message(app)
        assert not (tmp_path / "out.json").exists()
        await _save(pilot, str(outside))
        await wait_for_screen(pilot, ConfirmDatasetSaveScreen)
        await pilot.press("y")
        await wait_for(pilot, (tmp_path / "out.json").exists, what="the file")
        await wait_for(pilot, lambda: "Saved" in _message(app), what="the message")
        assert str(tmp_path / "out.json") in _message(app)


async def test_a_served_app_refuses_outside_paths_without_asking(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SERVED_ENV, "1")
    async with WorkbenchApp(initial_pane="dataset").run_test(size=(120, 40)) as pilot:
        app = await _ready(pilot)
        assert app.dataset_pane.served
        for path in (str(tmp_path / "out.json"), "../../out.json", str(Path.home() / ".bashrc-llmlearn-test")):
            await _save(pilot, path)
            assert not isinstance(app.screen, ConfirmDatasetSaveScreen)
            assert "outside your datasets folder" in _message(app) and "served" in _message(app)
        assert not (tmp_path / "out.json").exists() and not Path.home().joinpath(".bashrc-llmlearn-test").exists()
        await _save(pilot, "mine.json")  # inside: saved, served or not
        await wait_for(pilot, (default_datasets_dir() / "mine.json").exists, what="the file")


def test_textual_serve_alone_marks_the_app_served() -> None:
    assert is_served({"TEXTUAL_DRIVER": "textual.drivers.web_driver:WebDriver"})
    assert is_served({SERVED_ENV: "1"})
    assert not is_served({}) and not is_served({SERVED_ENV: "0"})


async def test_overwriting_asks_and_escape_keeps_the_file() -> None:
    async with WorkbenchApp(initial_pane="dataset").run_test(size=(120, 40)) as pilot:
        app = await _ready(pilot)
        target = default_datasets_dir() / "d.json"
        await _save(pilot, "d.json")  # new and inside: no question
        await wait_for(pilot, target.exists, what="the file")
        assert not isinstance(app.screen, ConfirmDatasetSaveScreen)
        await wait_for(pilot, lambda: "Saved" in _message(app), what="the message")
        before = target.read_bytes()
        await set_value(pilot, "#ds-seed", "3")
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: app.dataset is not None and app.dataset.config.seed == 3, what="regenerate")
        await _save(pilot, "d.json")
        await wait_for_screen(pilot, ConfirmDatasetSaveScreen)
        question = static_text(app, "#confirm-dataset-question")
        assert f"{target} already exists" in question and "Replace it?" in question
        await pilot.press("escape")
        await wait_for(pilot, lambda: "Not saved" in _message(app), what="the answer")
        assert target.read_bytes() == before
        await _save(pilot, "d.json")
        await wait_for_screen(pilot, ConfirmDatasetSaveScreen)
        await pilot.press("y")
        await wait_for(pilot, lambda: target.read_bytes() != before, what="the replaced file")


async def test_targets_that_are_never_written_are_refused_with_the_reason() -> None:
    folder = default_datasets_dir()
    folder.mkdir(parents=True)
    os.mkfifo(folder / "pipe.json")
    (folder / "notes.txt").write_text("my notes\n")
    (folder / "sub").mkdir()
    async with WorkbenchApp(initial_pane="dataset").run_test(size=(120, 40)) as pilot:
        app = await _ready(pilot)
        for path, reason in (("pipe.json", "is a FIFO"), ("notes.txt", "not an llmlearn dataset file"),
                             ("sub", "is a folder")):
            await _save(pilot, path)
            assert not isinstance(app.screen, ConfirmDatasetSaveScreen), path
            assert reason in _message(app) and app.query_one("#dataset-message").has_class("error"), path
    assert (folder / "notes.txt").read_text() == "my notes\n"
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "pipe.json", "sub"]
