"""The App's session controller as a user meets it: quick key presses add up, a run that cannot be
built says why and leaves the pane usable, a run-until condition is its own event and is cleared, and
a new run starts only after the old worker thread has really ended."""

from __future__ import annotations

import threading

import pytest
from textual.widgets import Button, Input, Select

from core.train.events import Cause
from tests.app_support import (
    isolated_models_dir,  # noqa: F401 (autouse: checkpoints go to a tmp dir)
    static_text,
    step_of,
    tiny_settings,
    wait_for,
)
from workbench import session_controller
from workbench.app import WorkbenchApp
from workbench.screens.save_checkpoint import SaveCheckpointScreen


async def test_five_quick_step_presses_take_five_steps_even_while_the_run_is_built() -> None:
    app = WorkbenchApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await tiny_settings(pilot, epochs="1000")
        for _ in range(5):  # no pause between them: the first builds the run, the rest arrive meanwhile
            await app.run_action("step")
        await wait_for(pilot, lambda: step_of(app) == 5 and app.controller.state == "paused", what="five steps")
        await pilot.pause(0.2)
        assert step_of(app) == 5 and app.controller.cause is Cause.BUDGET
        for _ in range(5):  # and on a live run
            await app.run_action("step")
        await wait_for(pilot, lambda: step_of(app) == 10 and app.controller.state == "paused", what="ten steps")
        # the state line is redrawn from the controller's next poll (under load, a moment after the step)
        await wait_for(pilot, lambda: "step 10/" in static_text(app, "#run-state"), what="step 10 shown")


async def test_a_run_that_cannot_be_built_says_why_and_the_pane_is_not_left_busy(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def out_of_memory(*args: object, **kwargs: object) -> None:
        raise MemoryError("cannot allocate 100 GB")

    app = WorkbenchApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await tiny_settings(pilot, epochs="1000")
        monkeypatch.setattr(session_controller, "Run", out_of_memory)
        await app.run_action("toggle_run")
        await wait_for(pilot, lambda: app.controller.state == "no run", what="the failure")
        assert not app.controller.busy and app.controller.session is None
        assert "not enough memory" in static_text(app, "#run-metrics")
        assert any("not enough memory" in str(n.message) for n in app._notifications)
        monkeypatch.undo()
        await app.run_action("toggle_run")  # the pane is usable: the next start works
        await wait_for(pilot, lambda: app.controller.state == "running", what="a run after the failure")
        await app.run_action("stop")
        await wait_for(pilot, lambda: app.controller.state == "stopped", what="stop")


async def test_any_exception_while_building_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("a bug")

    app = WorkbenchApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await tiny_settings(pilot)
        monkeypatch.setattr(session_controller, "Run", broken)
        await app.run_action("step")
        await wait_for(pilot, lambda: app.controller.state == "no run" and app.controller.last_error,
                       what="the failure")
        assert app.controller.last_error == "ZeroDivisionError: a bug"
        await app.run_action("step")  # kept commands are dropped with the failed build; a new one is tried
        await wait_for(pilot, lambda: app.controller.state == "no run" and not app.controller.busy, what="again")


async def test_a_met_run_until_condition_is_cleared_everywhere() -> None:
    app = WorkbenchApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await tiny_settings(pilot, epochs="1000")
        app.query_one("#until-kind", Select).value = "step"
        await pilot.pause()
        app.query_one("#until-value", Input).value = "12"
        await app.query_one("#until-value", Input).action_submit()
        await pilot.pause()
        assert "until step 12" in static_text(app, "#run-state")
        await app.run_action("toggle_run")
        await wait_for(pilot, lambda: app.controller.state == "paused" and step_of(app) == 12, what="step 12")
        await pilot.pause(0.2)
        assert app.controller.cause is Cause.UNTIL and app.controller.until.active is False
        assert "until" not in static_text(app, "#run-state").split("step 12")[-1]
        assert app.query_one("#until-kind", Select).value == "none"
        assert any("Run-until condition met" in str(n.title) for n in app._notifications)
        await app.run_action("toggle_run")  # the condition does not carry on into the next stretch
        await wait_for(pilot, lambda: step_of(app) > 20, what="running past the old condition")
        await app.run_action("stop")
        await wait_for(pilot, lambda: app.controller.state == "stopped", what="stop")


async def test_a_new_run_waits_for_the_old_worker_thread_to_end() -> None:
    app = WorkbenchApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await tiny_settings(pilot, epochs="1000")
        await app.run_action("toggle_run")
        await wait_for(pilot, lambda: app.controller.state == "running" and step_of(app) > 3, what="running")
        old = app.controller.session
        assert old is not None
        seen: list[bool] = []
        adopt = app.controller.adopt

        def adopt_and_look(ready):  # type: ignore[no-untyped-def]
            seen.append(old.alive)  # the old worker thread at the moment the new session starts
            adopt(ready)

        app.controller.adopt = adopt_and_look  # type: ignore[method-assign]
        config = app.training.validate_form()
        assert config is not None
        app.controller.build(config, None, "run")  # while the old run is still training
        await wait_for(pilot, lambda: app.controller.session is not None and app.controller.session is not old
                       and app.controller.state == "running", what="the new run")
        assert seen == [False]
        assert [t.name for t in threading.enumerate()].count("training-worker") == 1
        await app.run_action("stop")
        await wait_for(pilot, lambda: app.controller.state == "stopped", what="stop")


async def test_a_loaded_shipped_model_is_never_offered_as_the_save_name() -> None:
    app = WorkbenchApp()
    async with app.run_test(size=(120, 40)) as pilot:
        app.controller.load("encoder-digits")
        await wait_for(pilot, lambda: app.controller.checkpoint_name == "encoder-digits"
                       and app.controller.state in ("idle", "finished"), what="the shipped model")
        assert "shipped, read-only" in static_text(app, "#run-info")
        name = app.controller.suggested_name(None)
        assert name != "encoder-digits" and not app.controller.is_shipped(name)
        await app.run_action("save")
        await wait_for(pilot, lambda: isinstance(app.screen, SaveCheckpointScreen) and app.screen.is_mounted,
                       what="the save dialog")
        field = app.screen.query_one("#save-name", Input)
        assert field.value == name
        field.value = "encoder-digits"
        await pilot.pause()
        assert app.screen.query_one("#save-ok", Button).disabled
        assert "shipped with the workbench" in static_text(app, "#save-status")
        await pilot.press("escape")
