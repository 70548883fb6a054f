"""The Training pane as a user drives it: start, pause, single step, learning-rate edits, run-until,
pace, checkpoints, quitting while training — asserting on what the widgets show."""

from __future__ import annotations

import time
from pathlib import Path

from textual.widgets import Button, DataTable, Input, Select

from tests.app_support import (
    isolated_models_dir,  # noqa: F401 (autouse: checkpoints go to a tmp dir)
    models_path,
    set_value,
    static_text,
    step_of,
    tiny_settings,
    wait_for,
    wait_for_screen,
)
from workbench.app import WorkbenchApp
from workbench.screens.load_checkpoint import LoadCheckpointScreen
from workbench.screens.quit import QuitScreen
from workbench.screens.save_checkpoint import SaveCheckpointScreen
from workbench.widgets.charts import MetricChart
from workbench.widgets.form import FieldRow
from workbench.widgets.model_chooser import ModelChooser


async def _start_running(app: WorkbenchApp, pilot, min_steps: int = 5) -> None:  # type: ignore[no-untyped-def]
    await app.run_action("toggle_run")
    await wait_for(pilot, lambda: app.controller.state == "running" and step_of(app) >= min_steps,
                   what="training to run")


async def test_start_pause_single_step_and_change_the_learning_rate() -> None:
    app = WorkbenchApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await tiny_settings(pilot, epochs="1000")
        await _start_running(app, pilot)
        # the label follows the controller's state with the next SessionUpdated message, a moment later
        await wait_for(pilot, lambda: "RUNNING" in static_text(app, "#run-state"), what="the RUNNING label")
        await app.run_action("toggle_run")  # F6 again pauses
        await wait_for(pilot, lambda: app.controller.state == "paused", what="the pause")
        before = step_of(app)
        await pilot.pause(0.3)
        assert step_of(app) == before, "still training after the pause"
        assert "PAUSED" in static_text(app, "#run-state")

        await pilot.press("f7")  # single step
        await wait_for(pilot, lambda: app.controller.last_step_event is not None
                       and app.controller.last_step_event.step == before + 1 and app.controller.state == "paused",
                       what="one step")
        await pilot.pause(0.3)
        assert step_of(app) == before + 1
        assert f"step {before + 1:,}/" in static_text(app, "#run-state")
        assert f"step {before + 1:,}/" in app.sub_title  # the header

        # change the learning rate, typing into the field; F7 still works while it has focus
        lr = app.query_one("#lr-input", Input)
        lr.focus()
        await pilot.pause()
        await pilot.press(*"5e-4", "enter")
        history = app.controller.session.history  # type: ignore[union-attr]
        await wait_for(pilot, lambda: any(label == "lr=0.0005" for _, label in history.marks), what="the edit")
        await pilot.press("f7")
        await wait_for(pilot, lambda: app.controller.last_step_event is not None
                       and app.controller.last_step_event.step == before + 2, what="a step at the new lr")
        assert app.focused is lr
        assert "lr 0.0005" in static_text(app, "#run-metrics")
        app.training.refresh_charts(force=True)
        loss_chart = app.query_one("#chart-loss", MetricChart)
        assert loss_chart.has_data and (before + 1) in loss_chart.mark_steps

        # a bad learning rate is refused, visibly
        await pilot.press(*"abc", "enter")
        assert "learning rate" in static_text(app, "#steer-error")
        assert app.query_one("#steer-error").display


async def test_invalid_settings_are_flagged_and_block_the_start() -> None:
    app = WorkbenchApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await set_value(pilot, "#cfg-n_heads", "3")
        row = app.query_one("#cfg-n_heads-row", FieldRow)
        assert row.has_class("-error")
        assert "n_heads (3) must divide d_model (64)" in static_text(app, "#cfg-n_heads-row .field-error")
        assert "n_heads (3) must divide d_model (64)" in static_text(app, "#config-status")
        await pilot.press("f6")
        await pilot.pause(0.2)
        assert app.controller.session is None and app.controller.state == "no run"
        await set_value(pilot, "#cfg-n_heads", "4")
        assert not row.has_class("-error")
        await set_value(pilot, "#cfg-lr", "0")
        assert "must be in (0, 10]" in static_text(app, "#cfg-lr-row .field-error")
        await set_value(pilot, "#cfg-lr", "1e-3")
        app.query_one("#cfg-schedule", Select).value = "cosine"
        await set_value(pilot, "#cfg-warmup_steps", "10000000")
        warmup_error = static_text(app, "#cfg-warmup_steps-row .field-error")
        assert "cosine schedule needs total_steps greater than warmup_steps" in warmup_error
        assert "steps per epoch; lower warmup_steps or train for more epochs" in warmup_error
        assert "✓" not in static_text(app, "#config-status")


async def test_run_until_pauses_by_itself_and_charts_fill_in(tmp_path: Path) -> None:
    app = WorkbenchApp()
    async with app.run_test(size=(160, 50)) as pilot:  # large: every chart is on screen
        await tiny_settings(pilot, epochs="1000")
        app.query_one("#until-kind", Select).value = "step"
        await set_value(pilot, "#until-value", "25")
        await app.query_one("#until-value", Input).action_submit()
        await pilot.pause(0.1)
        assert "until step 25" in static_text(app, "#run-state")
        await app.run_action("toggle_run")
        await wait_for(pilot, lambda: app.controller.state == "paused" and step_of(app) == 25, what="step 25")
        # the status line follows with the controller's next message
        await wait_for(pilot, lambda: "reached step 25" in static_text(app, "#run-state"), what="the status line")
        assert "until" not in static_text(app, "#run-state")  # a met condition is cleared
        app.training.refresh_charts(force=True)
        await pilot.pause(0.1)
        for chart_id in ("chart-loss", "chart-accuracy", "chart-per-op", "chart-lr", "chart-grad"):
            chart = app.query_one(f"#{chart_id}", MetricChart)
            assert chart.has_data and chart.build_count >= 1, chart_id
        assert set(app.query_one("#chart-per-op", MetricChart).series_labels()) == {
            "First", "Second", "Last", "Max", "Min"}
        assert app.query_one("#chart-accuracy", MetricChart).series_labels() == ["train", "val"]
        shot = app.save_screenshot("workbench-160x50.svg", str(tmp_path))
        assert "validation&#160;accuracy&#160;per&#160;operation" in Path(shot).read_text()


async def test_pace_limits_the_steps_per_second() -> None:
    app = WorkbenchApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await tiny_settings(pilot, epochs="1000")
        await set_value(pilot, "#pace-input", "20")
        await app.query_one("#pace-input", Input).action_submit()
        await pilot.pause(0.05)
        await _start_running(app, pilot, min_steps=1)
        first = step_of(app)
        await wait_for(pilot, lambda: step_of(app) >= first + 12, what="a dozen paced steps")
        # Measured from the steps' own timestamps (the exact schedule is tested on the session itself; here,
        # that the pace typed in the pane reached the worker — at full speed this run takes ~300 steps/s).
        await wait_for(pilot, lambda: app.controller.steps_per_second() is not None,
                       what=f"a measured rate (state {app.controller.state}, reason {app.controller.reason!r})")
        rate = app.controller.steps_per_second()
        assert rate is not None and rate <= 2 * 20, rate
        assert "pace 20/s" in static_text(app, "#run-state")
        await set_value(pilot, "#pace-input", "")
        await app.query_one("#pace-input", Input).action_submit()
        await wait_for(pilot, lambda: step_of(app) > first + 200, what="full speed again")
        assert app.controller.pace is None
        # the status line follows with the controller's next message
        await wait_for(pilot, lambda: "pace" not in static_text(app, "#run-state"), what="the status line")
        await app.run_action("stop")
        await wait_for(pilot, lambda: app.controller.state == "stopped" and not app.controller.alive, what="stop")


async def test_save_a_checkpoint_then_load_it_back() -> None:
    models_dir = models_path()
    app = WorkbenchApp()
    async with app.run_test(size=(120, 40)) as pilot:
        for pane in ("inference", "inspector"):  # built (as on a first visit) before the save: their lists follow
            await app.ensure_pane(pane)
        await tiny_settings(pilot, epochs="1000")
        for n in (1, 2, 3):
            await pilot.press("f7")
            await wait_for(pilot, lambda n=n: app.controller.last_step_event is not None  # type: ignore[misc]
                           and app.controller.last_step_event.step == n and app.controller.state == "paused")
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, SaveCheckpointScreen)
        name_input = app.screen.query_one("#save-name", Input)
        assert name_input.value == "encoder-0-9-3to3args"
        name_input.value = "bad/name"
        await pilot.pause()
        assert "invalid checkpoint name" in static_text(app, "#save-status")
        assert app.screen.query_one("#save-ok", Button).disabled
        name_input.value = "ui-test"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.controller.saved_step == 3, what="the save")
        assert (models_dir / "ui-test" / "config.json").exists()
        assert not app.controller.has_unsaved_progress()
        for picker in ("#inf-model", "#insp-model", "#learn-model"):  # listed at once, no restart needed
            chooser = app.query_one(picker, ModelChooser)
            await wait_for(pilot, lambda c=chooser: "ck:ui-test" in [v for _, v in c.options_for()],  # type: ignore[misc]
                           what=f"ui-test in {picker}")

        await pilot.press("f7", "f7")
        await wait_for(pilot, lambda: step_of(app) == 5 and app.controller.state == "paused", what="two more steps")
        assert app.controller.has_unsaved_progress()
        await pilot.press("ctrl+o")
        await wait_for_screen(pilot, LoadCheckpointScreen)
        table = app.screen.query_one("#checkpoints", DataTable)
        await wait_for(pilot, lambda: table.row_count >= 1 and "checkpoint" in static_text(app, "#load-status"),
                       what="the checkpoint list")
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        assert str(rows[0][0]) == "ui-test" and str(rows[0][-1]) == ""  # the user's own first
        assert {str(r[0]) for r in rows[1:]} == {"encoder-digits", "decoder-0-99", "nested-digits", "nested-0-99"}
        assert all(str(r[-1]) == "shipped" for r in rows[1:])
        assert "unsaved steps" in static_text(app, "#load-warning")
        await pilot.press("enter")
        await wait_for(pilot, lambda: step_of(app) == 3 and app.controller.checkpoint_name == "ui-test",
                       what="the load")
        assert app.query_one("#cfg-d_model", Input).value == "16"
        assert "checkpoint ui-test (saved)" in static_text(app, "#run-info")
        # the restored history draws the charts; training continues from step 3
        app.training.refresh_charts(force=True)
        assert app.query_one("#chart-loss", MetricChart).has_data
        await pilot.press("f7")
        await wait_for(pilot, lambda: step_of(app) == 4 and app.controller.state == "paused", what="step 4")


async def test_quit_while_training_stops_the_worker_within_a_second() -> None:
    app = WorkbenchApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await tiny_settings(pilot, epochs="1000")
        await _start_running(app, pilot)
        session = app.controller.session
        assert session is not None
        await app.run_action("quit")
        await wait_for_screen(pilot, QuitScreen)
        assert "not saved" in static_text(app, "#quit-message")
        assert session.alive  # still training behind the dialog
        t0 = time.monotonic()
        app.screen.query_one("#quit-discard", Button).press()
        await wait_for(pilot, lambda: not session.alive, timeout=2.0, what="the worker to stop")
        assert time.monotonic() - t0 < 1.0
        await wait_for(pilot, lambda: app.return_code is not None, timeout=2.0, what="the exit")
    assert app.return_code == 0


async def test_save_and_quit_writes_the_checkpoint_first() -> None:
    models_dir = models_path()
    app = WorkbenchApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await tiny_settings(pilot, epochs="1000")
        await _start_running(app, pilot)
        session = app.controller.session
        assert session is not None
        await app.run_action("quit")
        await wait_for_screen(pilot, QuitScreen)
        await app.screen.run_action("choose('save')")
        await wait_for(pilot, lambda: not session.alive, timeout=5.0, what="the worker to stop")
        await wait_for(pilot, lambda: app.return_code is not None, timeout=2.0, what="the exit")
    assert (models_dir / "encoder-0-9-3to3args" / "weights.safetensors").exists()
