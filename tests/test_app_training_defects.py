"""The Training pane's newcomer defects of issue 12, each with the test that would have caught it: what a
number means, the steering fields showing what is in force, run-until never losing input or lying, a
clear way to start a new run, checkpoint names and dataset replacement said out loud, every button on
screen at 80×24, and a focus that shows in 256 colours."""

from __future__ import annotations

import io

from rich.color import Color as RichColor
from rich.color import ColorSystem
from textual.color import Color
from textual.widgets import Button, Checkbox, Input, Select

from core.data.dataset import DatasetConfig
from core.data.task import TaskConfig
from core.train.events import StepEvent
from core.train.options import default_checkpoint_name
from core.train.run import RunConfig
from core.train.run_until import RunUntil
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
from workbench.panes.training import dataset_changes
from workbench.screens.quit import NewRunScreen, QuitScreen
from workbench.session_controller import budget_reason
from workbench.train_progress import Progress

SIZE = (80, 24)


async def _paused_at(pilot, app: WorkbenchApp, step: int) -> None:  # type: ignore[no-untyped-def]
    await wait_for(pilot, lambda: step_of(app) == step and app.controller.state == "paused"
                   and app.controller.last_step_event is not None and app.controller.last_step_event.step == step,
                   what=f"paused at step {step}")


def _labels(app: WorkbenchApp) -> dict[str, tuple[str, bool]]:
    return {b.id or "": (str(b.label), b.disabled) for b in app.query("#controls Button")}


# -- 1. what the numbers mean ----------------------------------------------------------------------------------
def test_a_pause_after_the_steps_asked_for_says_how_many_in_words() -> None:
    assert budget_reason(0, "1 step to take", 1, 10) == "1 step done"
    assert budget_reason(3, "5 steps to take", 8, 10) == "all 5 steps done"
    assert budget_reason(1, "to the end of this epoch", 10, 10) == "epoch 1 done (9 steps)"


def test_the_command_line_progress_labels_the_batch_accuracy() -> None:
    out = io.StringIO()
    progress = Progress(100, out)
    progress.val = 0.5
    progress.update(StepEvent(1, 0, 1.5, 0.25, 1e-3, 1.0, 100.0, 10.0, 0.0), force=True)
    assert "batch acc 25.0%" in out.getvalue() and "val acc 50.00%" in out.getvalue()


async def test_the_status_labels_batch_and_validation_accuracy_and_plain_stop_reasons() -> None:
    app = WorkbenchApp()
    async with app.run_test(size=SIZE) as pilot:
        await tiny_settings(pilot, epochs="100")
        await app.run_action("step")
        await _paused_at(pilot, app, 1)
        await wait_for(pilot, lambda: "1 step done" in static_text(app, "#run-state"), what="the reason")
        assert "batch acc" in static_text(app, "#run-metrics")
        await app.run_action("epoch")
        await _paused_at(pilot, app, 10)
        await wait_for(pilot, lambda: "epoch 1 done (9 steps)" in static_text(app, "#run-state"), what="the reason")
        metrics = static_text(app, "#run-metrics")
        assert "batch acc" in metrics and "val acc" in metrics
        assert "asked for" not in static_text(app, "#run-state") and "budget" not in static_text(app, "#run-state")


# -- 2. the steering fields show what is in force -------------------------------------------------------------
async def test_the_lr_field_shows_the_current_lr_and_a_palette_pace_shows_in_the_pace_field() -> None:
    app = WorkbenchApp()
    async with app.run_test(size=SIZE) as pilot:
        lr = app.query_one("#lr-input", Input)
        assert lr.value == "0.001"  # the lr the next run starts at, not a placeholder
        await tiny_settings(pilot, epochs="100")  # lr 0.003
        await pilot.pause(0.05)
        assert lr.value == "0.003"  # follows the settings while there is no run
        await app.run_action("step")
        await _paused_at(pilot, app, 1)
        assert lr.value == "0.003"  # the run's own lr
        lr.value = "5e-4"
        await lr.action_submit()
        await wait_for(pilot, lambda: any(label == "lr=0.0005" for _, label in app.controller.history.marks),  # type: ignore[union-attr]
                       what="the edit")
        await pilot.pause(0.1)
        assert lr.value == "0.0005" and app.query_one("#cfg-lr", Input).value == "0.0005"
        pace = app.query_one("#pace-input", Input)
        for action, shown, value in (("set_pace('1')", "1", 1.0), ("set_pace('watch')", "20", 20.0),
                                     ("set_pace('')", "", None)):
            await app.run_action(action)
            await pilot.pause(0.05)
            assert pace.value == shown and app.controller.pace == value, action


# -- 3. run-until: focus stays, input is never lost, the widget never lies ----------------------------------
async def test_choosing_a_run_until_kind_keeps_the_focus_and_a_value_left_with_tab_is_applied() -> None:
    app = WorkbenchApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        kind = app.query_one("#until-kind", Select)
        value = app.query_one("#until-value", Input)
        assert app.controller.until == RunUntil(val_accuracy=0.99)
        kind.focus()
        await pilot.press("enter", "down", "enter")  # val acc ≥ → loss ≤
        await pilot.pause()
        assert kind.value == "loss" and app.focused is kind  # the focus did not move by itself
        # the old 99% is no loss value: it is cleared, the old condition dropped, a value asked for
        assert value.value == "" and not app.controller.until.active
        assert "until" not in static_text(app, "#run-state")
        assert "type a value" in static_text(app, "#steer-error")
        await pilot.press("tab")
        assert app.focused is value
        await pilot.press(*"0.05", "tab")  # no Enter: leaving the field applies it
        await pilot.pause()
        assert app.focused is not value
        assert app.controller.until == RunUntil(loss=0.05)
        assert "until loss ≤ 0.05" in static_text(app, "#run-state")
        assert not app.query_one("#steer-error").display


async def test_a_condition_carried_into_a_new_run_says_so_and_a_met_one_is_shown_cleared() -> None:
    app = WorkbenchApp()
    async with app.run_test(size=SIZE) as pilot:
        await tiny_settings(pilot, epochs="100")
        app.query_one("#until-kind", Select).value = "step"
        app.query_one("#until-value", Input).value = "3"
        await pilot.pause()
        assert app.controller.until == RunUntil(step=3)
        await app.run_action("step")  # the first run: the condition was set for it, nothing to say
        await _paused_at(pilot, app, 1)
        assert not any("carried over" in str(n.title) for n in app._notifications)
        first = app.controller.session
        app.training.new_run()  # the New run button (unsaved steps: it asks)
        await wait_for_screen(pilot, NewRunScreen)
        await app.screen.run_action("choose('new')")
        await wait_for(pilot, lambda: app.controller.session not in (None, first), what="the new run")
        await wait_for(pilot, lambda: app.controller.state == "paused", what="step 3 reached")
        assert any("carried over" in str(n.title) and "step 3" in n.message for n in app._notifications)
        assert step_of(app) == 3
        await pilot.pause(0.1)
        assert app.query_one("#until-kind", Select).value == "none"  # met, cleared: not shown as armed
        assert app.query_one("#until-value", Input).value == ""
        assert not app.controller.until.active


# -- 4. New run and Resume are two things ---------------------------------------------------------------------
async def test_while_paused_start_becomes_new_run_and_a_stopped_run_never_shows_pause() -> None:
    app = WorkbenchApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert _labels(app)["btn-start"] == ("Start", False)
        assert _labels(app)["btn-pause"][1]  # nothing to pause or resume
        await tiny_settings(pilot, epochs="100")
        await app.run_action("step")
        await _paused_at(pilot, app, 1)
        await pilot.pause(0.05)
        assert _labels(app)["btn-start"] == ("New run", False)
        assert _labels(app)["btn-pause"] == ("Resume", False)
        first = app.controller.session
        app.query_one("#btn-start", Button).press()  # unsaved steps: it asks, and says Resume continues
        await wait_for_screen(pilot, NewRunScreen)
        assert "not saved" in static_text(app, "#new-run-message")
        assert "Resume" in static_text(app, "#new-run-message")
        assert app.controller.session is first and app.controller.state == "paused"  # nothing yet
        await app.screen.run_action("choose('new')")  # the n key (a press would wait for idleness)
        await wait_for(pilot, lambda: app.controller.session not in (None, first)
                       and app.controller.state == "running", what="a new run")
        assert first is not None and not first.alive
        await app.run_action("stop")
        await wait_for(pilot, lambda: app.controller.state == "stopped", what="the stop")
        await pilot.pause(0.05)
        labels = _labels(app)
        assert labels["btn-pause"] == ("Resume", True)  # stopped: never a "Pause" label
        assert labels["btn-start"] == ("New run", False)


async def test_new_run_can_save_the_current_run_first() -> None:
    app = WorkbenchApp()
    async with app.run_test(size=SIZE) as pilot:
        await tiny_settings(pilot, epochs="100")
        await app.run_action("step")
        await _paused_at(pilot, app, 1)
        first = app.controller.session
        app.query_one("#btn-start", Button).press()
        await wait_for_screen(pilot, NewRunScreen)
        await app.screen.run_action("choose('save')")  # the s key
        await wait_for(pilot, lambda: app.controller.session not in (None, first), what="the new run")
        assert (models_path() / "encoder-0-9-3to3args" / "config.json").exists()
        await app.run_action("stop")
        await wait_for(pilot, lambda: app.controller.state == "stopped", what="the stop")


# -- 5. checkpoint names ----------------------------------------------------------------------------------------
def test_the_suggested_checkpoint_name_tells_a_nested_run_from_a_flat_one() -> None:
    flat = tiny_config(kind="decoder")
    nested_task = TaskConfig(max_value=99, min_args=2, max_args=3, max_depth=2)
    nested = RunConfig.create(DatasetConfig(task=nested_task, n_train=320, n_val=64, n_test=64), kind="decoder",
                              d_model=16, n_layers=1, n_heads=2, d_ff=32)
    assert default_checkpoint_name(flat) != default_checkpoint_name(nested)
    assert "depth2" in default_checkpoint_name(nested)


async def test_after_loading_a_shipped_model_the_quit_dialog_never_offers_to_save_over_it() -> None:
    app = WorkbenchApp()
    async with app.run_test(size=SIZE) as pilot:
        await tiny_settings(pilot, epochs="100")
        await app.run_action("step")
        await _paused_at(pilot, app, 1)
        # as a load of the shipped model leaves it (the real load is tested in test_app_session), with steps
        # taken since: the quit dialog must offer the user's own name
        app.controller.checkpoint_name = "encoder-digits"
        assert app.controller.is_shipped("encoder-digits") and app.controller.has_unsaved_progress()
        await app.run_action("quit")
        await wait_for_screen(pilot, QuitScreen)
        screen = app.screen
        assert isinstance(screen, QuitScreen)
        assert screen.checkpoint != "encoder-digits" and not app.controller.is_shipped(screen.checkpoint)
        assert "encoder-digits" not in static_text(app, "#quit-message")
        await screen.run_action("choose('cancel')")


# -- 6. a loaded checkpoint says what it changed in the Dataset pane --------------------------------------------
def test_dataset_changes_are_named_by_their_form_labels() -> None:
    before = DatasetConfig(n_train=320)
    after = DatasetConfig(task=TaskConfig(max_depth=2), n_train=10_000)
    assert dataset_changes(before, after) == ["nesting 1 → 2", "n_train 320 → 10,000"]
    assert dataset_changes(after, after) == []


async def test_loading_a_checkpoint_names_the_dataset_settings_it_replaced() -> None:
    app = WorkbenchApp()
    async with app.run_test(size=SIZE) as pilot:
        await tiny_settings(pilot)  # n_train 320 in the Dataset pane
        app.controller.load("encoder-digits")
        await wait_for(pilot, lambda: app.controller.checkpoint_name == "encoder-digits", what="the load")
        await wait_for(pilot, lambda: any("Dataset settings replaced" in str(n.title) for n in app._notifications),
                       what="the notification")
        note = next(n for n in app._notifications if "Dataset settings replaced" in str(n.title))
        assert "encoder-digits" in note.message and "n_train 320 →" in note.message
        await wait_for(pilot, lambda: app.controller.state in ("idle", "paused", "finished"), what="the loaded run")
        await pilot.pause(0.1)  # let the load's last messages arrive before the app closes


# -- 7. every button on screen at 80×24 ---------------------------------------------------------------------------
async def test_at_80x24_every_control_button_is_on_screen_with_the_settings_shown_or_not() -> None:
    app = WorkbenchApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await tiny_settings(pilot, epochs="100")
        await app.run_action("step")  # the longest labels: "New run", "Resume"
        await _paused_at(pilot, app, 1)
        for shown in (True, False):
            app.training.show_config(shown)
            await pilot.pause(0.1)
            run = app.query_one("#run").content_region
            regions = []
            for button in app.query("#controls Button"):
                region = button.region
                assert button.display and region.area > 0, (shown, button.id)
                assert run.contains_region(region), (shown, button.id, region, run)
                assert region.width >= len(str(button.label)) + 2, (shown, button.id)  # the label is not cut
                regions.append(region)
            assert all(not a.overlaps(b) for i, a in enumerate(regions) for b in regions[i + 1:]), shown


# -- 8. focus that shows in 256 colours -----------------------------------------------------------------------
def _xterm(color: Color) -> tuple[int, tuple[int, int, int]]:
    rich = RichColor.from_rgb(color.r, color.g, color.b).downgrade(ColorSystem.EIGHT_BIT)
    triplet = rich.get_truecolor()
    return rich.number or 0, (triplet.red, triplet.green, triplet.blue)


def _far(a: Color, b: Color) -> bool:
    (na, ra), (nb, rb) = _xterm(a), _xterm(b)
    return na != nb and sum(abs(x - y) for x, y in zip(ra, rb, strict=True)) >= 90


async def test_the_focused_field_and_a_ticked_checkbox_stand_out_in_256_colours() -> None:
    app = WorkbenchApp()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        focused, other = app.query_one("#cfg-d_model", Input), app.query_one("#cfg-d_ff", Input)
        focused.focus()
        await pilot.pause()
        assert _far(focused.background_colors[1], other.background_colors[1])
        select = app.query_one("#cfg-kind", Select)
        select.focus()
        await pilot.pause()
        current = select.query_one("SelectCurrent")
        assert _far(current.background_colors[1], other.background_colors[1])
        await app.run_action("show_pane('dataset')")
        await pilot.pause()
        box = app.query_one("#op-First", Checkbox)
        ticked = box.get_component_rich_style("toggle--button")
        box.value = False
        await pilot.pause()
        unticked = box.get_component_rich_style("toggle--button")
        # not ticked: the X is drawn in its own background colour (invisible) — a blank box, not a grey X
        assert unticked.color == unticked.bgcolor
        assert ticked.color != ticked.bgcolor and ticked.bold
