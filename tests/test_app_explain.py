"""A screen that explains itself (issue 10): ``?`` explains the view the focus is in, the focused form
field says what it means under it, and a new run stops by itself at val acc ≥ 99% and can be watched
at a slow pace."""

from __future__ import annotations

import tomllib
from pathlib import Path

from textual.widget import Widget
from textual.widgets import Checkbox, Input, Select, Static

from core.train.options import option
from core.train.run_until import RunUntil
from tests.app_support import (
    isolated_models_dir,  # noqa: F401 (autouse: checkpoints go to a tmp dir)
    static_text,
    step_of,
    tiny_settings,
    wait_for,
    wait_for_screen,
)
from workbench.app import PANES, WorkbenchApp
from workbench.explain import EXPLAIN_DIR, ID_TOPICS, PANE_TOPICS, TOPICS, explanation, topic_for
from workbench.screens.explain import ExplainScreen, focused_topic
from workbench.screens.help import help_sections
from workbench.steering import WATCH_PACE, default_until, describe_steering, parse_pace

ROOT = Path(__file__).resolve().parent.parent


# -- the texts -------------------------------------------------------------------------------------------
def test_every_pane_and_view_has_a_short_explanation_shipped_with_the_package() -> None:
    assert {p for p, _, _ in PANES} == set(PANE_TOPICS)  # every pane of the app
    assert set(PANE_TOPICS.values()) | set(ID_TOPICS.values()) == set(TOPICS)
    for view in ("charts", "attention", "logit-lens", "generation", "embeddings", "gradcheck", "evaluation"):
        assert view in TOPICS
    assert {p.stem for p in EXPLAIN_DIR.glob("*.md")} == set(TOPICS)
    for key in TOPICS:
        e = explanation(key)
        lines = e.body.strip().splitlines()
        assert e.title and 8 <= len(lines) <= 25, (key, len(lines))
        assert max(len(line) for line in lines) <= 110, key
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "explain/*.md" in package_data["workbench"]


def test_the_texts_say_how_to_read_the_attention_map_and_the_logit_lens() -> None:
    attention = explanation("attention").body
    assert "Rows are queries" in attention and "Columns are keys" in attention
    assert "`**`" in attention and "100%" in attention  # grids.py prints ** for a rounded 100%
    assert "Blank" in attention and "0.5%" in attention  # … and nothing below 0.5%
    assert "▶" in attention
    assert "**embedding**" in explanation("logit-lens").body
    for chart in ("Loss", "Accuracy", "Per op", "LR", "Grad norm"):
        assert f"**{chart}**" in explanation("charts").body
    assert "disjoint" in explanation("dataset").body


def test_the_topic_is_the_innermost_view_else_the_visible_pane() -> None:
    assert topic_for(["inf-attention", "inf-attention-view", "inf-attention-section", "inf-detail",
                      "inference-pane", "inference", "panes"], "inference") == "attention"
    assert topic_for(["inf-input", "inference-pane"], "inference") == "inference"
    assert topic_for([None, "chart-tabs", "chart-panel", "run", "training-pane"], "training") == "charts"
    assert topic_for(["panes"], "dataset") == "dataset"  # the pane tabs: the visible pane
    assert topic_for([], None) == "learn"


def test_the_f1_help_lists_the_explain_key() -> None:
    everywhere = dict(help_sections(WorkbenchApp.BINDINGS))["Everywhere"]
    assert any(key == "?" and "How to read the view" in text for key, text in everywhere), everywhere


# -- ? in the app ---------------------------------------------------------------------------------------------
async def _explain(pilot, widget: Widget) -> ExplainScreen:  # type: ignore[no-untyped-def]
    widget.focus()
    await pilot.pause()
    await pilot.press("question_mark")
    await wait_for_screen(pilot, ExplainScreen)
    screen = pilot.app.screen
    assert isinstance(screen, ExplainScreen)
    return screen


async def _close(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("escape")
    await wait_for(pilot, lambda: not isinstance(pilot.app.screen, ExplainScreen), what="the dialog to close")


async def test_question_mark_explains_the_pane_or_view_the_focus_is_in() -> None:
    app = WorkbenchApp(initial_pane="training")
    async with app.run_test(size=(120, 40)) as pilot:
        cases = [("training", "#cfg-kind", "training"), ("training", "#chart-tabs", "charts"),
                 ("dataset", "#op-Max", "dataset"), ("inference", "#inf-attention", "attention"),
                 ("inference", "#inf-lens-section CollapsibleTitle", "logit-lens"),
                 ("inference", "#inf-generation-section CollapsibleTitle", "generation"),
                 ("inspector", "#insp-tree", "inspector"),
                 ("inspector", "#insp-embed-section CollapsibleTitle", "embeddings"),
                 ("inspector", "#insp-gradcheck-section CollapsibleTitle", "gradcheck"),
                 ("inspector", "#insp-eval-section CollapsibleTitle", "evaluation"),
                 ("learn", "#lesson-list", "learn"), ("lab", "#lab-heads-run", "lab")]
        opened = {"#cfg-kind", "#inf-lens-section CollapsibleTitle", "#insp-eval-section CollapsibleTitle"}
        for pane, selector, topic in cases:
            await app.run_action(f"show_pane('{pane}')")
            await pilot.pause()
            if selector not in opened:  # the topic the focus gives, as ? reads it (without opening the dialog)
                app.query_one(selector).focus()
                await pilot.pause()
                assert focused_topic(app) == topic, (selector, focused_topic(app))
                continue
            screen = await _explain(pilot, app.query_one(selector))
            assert screen.key == topic, (selector, screen.key)
            assert explanation(topic).title in static_text(app, "#explain-title")
            await _close(pilot)

        screen = await _explain(pilot, app.query_one("#inf-attention"))
        assert "Rows are queries" in screen.text
        await pilot.press("n")  # the next topic, and back
        assert screen.key == TOPICS[TOPICS.index("attention") + 1]
        await pilot.press("p")
        assert screen.key == "attention"
        await _close(pilot)

        # in a text field, ? is a character like any other
        await app.run_action("show_pane('training')")
        await pilot.pause()
        field = app.query_one("#cfg-d_model", Input)
        field.focus()
        await pilot.press("question_mark")
        assert not isinstance(app.screen, ExplainScreen) and "?" in field.value


async def test_the_command_palette_explains_the_view_the_focus_was_in() -> None:
    app = WorkbenchApp(initial_pane="inference")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.query_one("#inf-attention").focus()
        await pilot.pause()
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Explain this view")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for_screen(pilot, ExplainScreen)
        assert isinstance(app.screen, ExplainScreen) and app.screen.key == "attention"


# -- the focused field's meaning ----------------------------------------------------------------------------
def _help_shown(app: WorkbenchApp, row: str) -> bool:
    """Whether the row shows its help line (a form row mounts it on its first focus)."""
    found = app.query(f"{row} .field-help")
    return bool(found) and found.first(Static).display and found.first(Static).styles.display == "block"


async def test_a_focused_field_shows_its_meaning_under_it() -> None:
    app = WorkbenchApp(initial_pane="training")
    async with app.run_test(size=(80, 24)) as pilot:  # the SSH size, keyboard only
        assert not _help_shown(app, "#cfg-lr-row")
        app.query_one("#cfg-lr", Input).focus()
        await pilot.pause()
        assert _help_shown(app, "#cfg-lr-row")
        assert static_text(app, "#cfg-lr-row .field-help") == option("lr").help
        assert not _help_shown(app, "#cfg-d_model-row")

        await pilot.press("tab")  # the focus moves on, so does the meaning
        assert app.focused is not None and app.focused.id == "cfg-schedule"
        assert not _help_shown(app, "#cfg-lr-row") and _help_shown(app, "#cfg-schedule-row")
        assert static_text(app, "#cfg-schedule-row .field-help") == option("schedule").help

        await app.run_action("show_pane('dataset')")
        await pilot.pause()  # the pane switch focuses the tabs after a refresh
        app.query_one("#ds-n_train", Input).focus()
        await pilot.pause()
        assert static_text(app, "#ds-n_train-row .field-help") == option("n_train").help
        assert _help_shown(app, "#ds-n_train-row")
        app.query_one("#op-Min", Checkbox).focus()
        await pilot.pause()
        assert _help_shown(app, "#ops-row") and not _help_shown(app, "#ds-n_train-row")

        await app.run_action("show_pane('training')")
        await pilot.pause()
        app.query_one("#pace-input", Input).focus()
        await pilot.pause()
        steer_help = app.query_one("#steer-help", Static)
        assert steer_help.display and "Steps per second" in static_text(app, "#steer-help")
        app.query_one("#cfg-lr", Input).focus()
        await pilot.pause()
        assert not steer_help.display


# -- a watchable first run ------------------------------------------------------------------------------------
async def test_a_new_run_stops_by_itself_at_99_percent_validation_accuracy() -> None:
    app = WorkbenchApp(initial_pane="training")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.controller.until == default_until() == RunUntil(val_accuracy=0.99)
        assert app.query_one("#until-kind", Select).value == "val_accuracy"
        assert app.query_one("#until-value", Input).value == "99%"
        assert "until val acc ≥ 99.00%" in static_text(app, "#run-state")

        # an easy task, so that 99% comes within a few hundred steps
        await app.ensure_pane("dataset")
        for op in ("Second", "Last", "Max", "Min"):
            app.query_one(f"#op-{op}", Checkbox).value = False
        await tiny_settings(pilot, default_until=True, epochs="200", eval_every="20", lr="0.01")
        await app.run_action("toggle_run")
        await wait_for(pilot, lambda: app.controller.state == "paused", timeout=60, what="val acc ≥ 99%")
        assert app.controller.last_eval is not None and app.controller.last_eval.accuracy >= 0.99
        assert "validation accuracy" in app.controller.reason
        session = app.controller.session
        assert session is not None and not session.run.finished  # stopped early, not at the end
        await pilot.pause(0.2)
        assert app.query_one("#until-kind", Select).value == "none"  # a met condition is cleared

        # a new run gets the default back …
        await app.run_action("stop")
        await wait_for(pilot, lambda: not app.controller.alive, what="the stop")
        await app.run_action("step")
        await pilot.pause()
        await app.run_action("step")  # the second press: "start a new run" (the old one is not saved)
        await wait_for(pilot, lambda: app.controller.session is not session and step_of(app) >= 1,
                       what="the new run")
        await pilot.pause(0.2)
        assert app.controller.until == default_until()
        assert app.query_one("#until-value", Input).value == "99%"

        # … unless the user chose "no condition"
        app.query_one("#until-kind", Select).value = "none"
        await pilot.pause(0.2)
        assert not app.controller.until.active
        second = app.controller.session
        await app.run_action("stop")
        await wait_for(pilot, lambda: not app.controller.alive, what="the stop")
        await app.run_action("step")
        await pilot.pause()
        await app.run_action("step")
        await wait_for(pilot, lambda: app.controller.session is not second and step_of(app) >= 1,
                       what="the third run")
        await pilot.pause(0.2)
        assert not app.controller.until.active
        assert app.query_one("#until-kind", Select).value == "none"


async def test_a_loaded_checkpoint_drops_the_default_condition() -> None:
    app = WorkbenchApp(initial_pane="training")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.controller.until.active
        app.controller.load("encoder-digits")  # already at 99.9%: the default would pause it at once
        await wait_for(pilot, lambda: app.controller.session is not None and not app.controller.busy,
                       timeout=30, what="the shipped model")
        await pilot.pause(0.2)
        assert not app.controller.until.active
        assert app.query_one("#until-kind", Select).value == "none"


async def test_the_watch_pace_is_offered_and_applied() -> None:
    assert parse_pace("watch") == parse_pace("W") == WATCH_PACE == 20.0
    app = WorkbenchApp(initial_pane="training")
    async with app.run_test(size=(80, 24)) as pilot:
        await tiny_settings(pilot, epochs="1000")
        await pilot.click("#pace-watch")
        await pilot.pause()
        assert app.controller.pace == WATCH_PACE
        assert app.query_one("#pace-input", Input).value == "20"
        # the state line is redrawn on the controller's next poll, not at once: wait for it (read at once,
        # it failed once under load)
        await wait_for(pilot, lambda: "pace 20/s" in static_text(app, "#run-state"), what="the pace in the state line")
        await app.run_action("toggle_run")
        await wait_for(pilot, lambda: step_of(app) >= 12, what="paced steps")
        # the controller measures from the events it has drained (10×/s): on a loaded machine, wait for them
        await wait_for(pilot, lambda: app.controller.steps_per_second() is not None, what="a measured rate")
        rate = app.controller.steps_per_second()
        assert rate is not None and rate <= 2 * WATCH_PACE, rate  # at full speed: hundreds of steps/s
        await app.run_action("set_pace('')")  # the palette's "Pace: full speed"
        await pilot.pause(0.2)
        assert app.controller.pace is None and app.query_one("#pace-input", Input).value == ""
        await app.run_action("set_pace('watch')")  # the palette's "Pace: watch"
        await pilot.pause(0.2)
        assert app.controller.pace == WATCH_PACE
        assert describe_steering(WATCH_PACE, default_until()) == "pace 20/s · until val acc ≥ 99.00%"
        await app.run_action("stop")  # never leave a worker running into the app's teardown
        await wait_for(pilot, lambda: not app.controller.alive, what="the stop")
