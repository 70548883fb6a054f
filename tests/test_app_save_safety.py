"""Saving from the app never silently replaces a better checkpoint: the confirm screen asks first, and
"no" keeps the old checkpoint bit for bit (the run goes to a free sibling name instead)."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import Input

from core.train.checkpoint import read_checkpoint, save_checkpoint
from core.train.run import Run
from tests.app_support import (
    isolated_models_dir,  # noqa: F401 (autouse: checkpoints go to a tmp dir)
    models_path,
    static_text,
    step_of,
    tiny_settings,
    wait_for,
    wait_for_screen,
)
from tests.conftest import tiny_config
from workbench.app import WorkbenchApp
from workbench.screens.confirm_replace import ConfirmReplaceScreen
from workbench.screens.quit import QuitScreen
from workbench.screens.save_checkpoint import SaveCheckpointScreen


def _better_checkpoint(name: str = "K") -> bytes:
    """A checkpoint that records a validation accuracy no 3-step run reaches; its weights' bytes."""
    save_checkpoint(Run(tiny_config()), name, metrics={"val_accuracy": 0.992, "val_loss": 0.05})
    return _files(name)


def _files(name: str) -> bytes:
    d = models_path() / name
    return b"".join((d / f).read_bytes() for f in ("config.json", "weights.safetensors", "history.jsonl"))


async def _three_steps_then_save_as(app: WorkbenchApp, pilot: Pilot[int], name: str) -> None:
    await tiny_settings(pilot)
    for _ in range(3):
        await app.run_action("step")
    await wait_for(pilot, lambda: step_of(app) == 3 and app.controller.state == "paused", what="three steps")
    await app.run_action("save")
    await wait_for_screen(pilot, SaveCheckpointScreen)
    app.screen.query_one("#save-name", Input).value = name
    await pilot.press("enter")
    await wait_for_screen(pilot, ConfirmReplaceScreen)


async def test_no_keeps_the_better_checkpoint_and_saves_the_run_beside_it() -> None:
    before = _better_checkpoint()
    app = WorkbenchApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await _three_steps_then_save_as(app, pilot, "K")
        question = static_text(app, "#replace-question")
        assert "K has val accuracy 99.2%; this run has" in question and "save as K-2" in question
        await pilot.press("n")
        await wait_for(pilot, lambda: (models_path() / "K-2").exists() and app.controller.checkpoint_name == "K-2",
                       what="the save as K-2")
    assert _files("K") == before
    assert read_checkpoint("K-2").state["step"] == 3


async def test_yes_replaces_it_and_escape_saves_nothing() -> None:
    before = _better_checkpoint()
    app = WorkbenchApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await _three_steps_then_save_as(app, pilot, "K")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmReplaceScreen), what="the dialog to close")
        await pilot.pause(0.2)
        assert _files("K") == before and not (models_path() / "K-2").exists()
        assert app.controller.has_unsaved_progress()

        await app.run_action("save")
        await wait_for_screen(pilot, SaveCheckpointScreen)
        app.screen.query_one("#save-name", Input).value = "K"
        await pilot.press("enter")
        await wait_for_screen(pilot, ConfirmReplaceScreen)
        await pilot.press("y")
        await wait_for(pilot, lambda: app.controller.checkpoint_name == "K", what="the replacing save")
    assert read_checkpoint("K").state["step"] == 3


async def test_save_and_quit_asks_before_replacing_a_better_checkpoint() -> None:
    app = WorkbenchApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await tiny_settings(pilot)
        name = app.controller.suggested_name(app.training.validate_form())
        before = _better_checkpoint(name)
        for _ in range(3):
            await app.run_action("step")
        await wait_for(pilot, lambda: step_of(app) == 3 and app.controller.state == "paused", what="three steps")
        await app.run_action("quit")
        await wait_for_screen(pilot, QuitScreen)
        await pilot.press("s")
        await wait_for_screen(pilot, ConfirmReplaceScreen)
        await pilot.press("n")
        await wait_for(pilot, lambda: app.return_code is not None, timeout=5.0, what="the exit")
    assert _files(name) == before
    assert read_checkpoint(f"{name}-2").state["step"] == 3

