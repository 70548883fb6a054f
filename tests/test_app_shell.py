"""The app shell: panes by function key (even with a text field focused), help, palette, small terminals."""

from __future__ import annotations

from textual.widgets import DataTable, Input, Select, TabbedContent

from tests.app_support import (
    isolated_models_dir,  # noqa: F401 (autouse: checkpoints go to a tmp dir)
    static_text,
    step_of,
    tiny_settings,
    wait_for,
)
from workbench.app import LAZY_PANES, WorkbenchApp
from workbench.screens.help import HelpScreen


async def test_function_keys_switch_panes_even_when_an_input_has_focus() -> None:
    app = WorkbenchApp()
    async with app.run_test(size=(120, 40)) as pilot:
        tabs = app.query_one("#panes", TabbedContent)
        assert tabs.active == "training"
        app.query_one("#cfg-d_model", Input).focus()
        await pilot.pause()
        await pilot.press("f2")
        assert tabs.active == "dataset"
        assert app.query_one("#cfg-d_model", Input).value == "64"  # the key was not typed into the field
        app.query_one("#ds-n_train", Input).focus()
        await pilot.pause()
        await pilot.press("f4")
        assert tabs.active == "inference"
        assert app.query_one("#ds-n_train", Input).value == "10,000"  # nothing typed into the hidden field
        assert app.query_one("#inference-pane").display
        await pilot.press("f5")
        assert tabs.active == "inspector"
        await pilot.press("f3")
        assert tabs.active == "training"
        assert not isinstance(app.focused, Input)  # focus left the hidden pane's field


async def test_help_lists_every_binding_and_closes_with_escape() -> None:
    app = WorkbenchApp()
    async with app.run_test(size=(120, 40)) as pilot:
        app.query_one("#cfg-lr", Input).focus()
        await pilot.pause()
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        keys = [key for key, _ in app.screen.rows()]
        for binding in app.BINDINGS:
            first = binding.key_display or binding.key.split(",")[0]  # type: ignore[union-attr]
            assert any(first.lower() in k.lower() for k in keys), first
        assert any("ctrl+p" in k for k in keys)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_command_palette_runs_a_single_step() -> None:
    app = WorkbenchApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await tiny_settings(pilot)
        await pilot.press("ctrl+p")
        await pilot.press(*"single")
        await pilot.pause(0.2)
        await pilot.press("enter")
        await wait_for(pilot, lambda: step_of(app) == 1 and app.controller.state == "paused", what="one step")
        await pilot.pause(0.2)
        assert step_of(app) == 1


async def test_fits_80x24_with_header_footer_controls_and_a_chart() -> None:
    app = WorkbenchApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.2)
        screen = app.screen.region
        for selector in ("Header", "Footer", "#btn-start", "#btn-stop", "#run-state", "#lr-input", "#chart-loss",
                         "#config-status"):
            region = app.query_one(selector).region
            assert region.area > 0 and screen.contains_region(region), selector
        await pilot.press("f2")
        await pilot.pause(0.1)
        for selector in ("#dataset-config-status", "#ops", "#ds-n_train", "#samples"):
            region = app.query_one(selector).region
            assert region.area > 0 and screen.contains_region(region), selector


def test_the_command_line_opens_the_app_with_or_without_mouse(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import io

    import workbench.app
    from workbench.cli import main

    calls: list[bool] = []
    monkeypatch.setattr(workbench.app, "run_app", lambda mouse=True: calls.append(mouse) or 0)
    assert main([]) == 0
    assert main(["app", "--no-mouse"]) == 0
    assert calls == [True, False]
    err = io.StringIO()
    assert main(["serve", "--port", "70000"], stderr=err) == 2
    assert "--port must be between 1 and 65535" in err.getvalue()


async def test_the_probing_panes_are_built_on_their_first_visit_and_keep_their_state() -> None:
    app = WorkbenchApp()
    async with app.run_test(size=(80, 24)) as pilot:
        assert [app.mounted_pane(p) is None for p in LAZY_PANES] == [True] * len(LAZY_PANES)
        await pilot.press("f4")  # the key builds the Inference pane, focus inside it
        inference = app.mounted_pane("inference")
        assert inference is not None and app.query_one("#panes", TabbedContent).active == "inference"
        await wait_for(pilot, lambda: isinstance(app.focused, Input), what="the expression field focused")
        field = app.query_one("#inf-input", Input)
        field.value = "Max(3, 7, 2)"
        await pilot.press("f5", "f4")
        assert app.mounted_pane("inference") is inference and field.value == "Max(3, 7, 2)"  # the same pane
        app.query_one("#panes", TabbedContent).active = "lab"  # a tab chosen directly (a click) builds it too
        await wait_for(pilot, lambda: (lab := app.mounted_pane("lab")) is not None and lab.is_mounted,
                       what="the Lab pane")
        await pilot.pause()
        assert app.mounted_pane("runs") is None


async def test_the_dataset_pane_built_after_a_run_shows_the_runs_dataset_and_a_run_before_uses_its_defaults() -> None:
    """The Dataset pane is built on its first visit: a run started before that trains on what its form
    would have said (the App's defaults are the form's), and the pane then shows that run's dataset."""
    from core.data.dataset import DatasetConfig
    from workbench.panes.dataset import DatasetPane

    app = WorkbenchApp()
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.mounted_pane("dataset") is None
        assert app.training.dataset_config == DatasetConfig()
        app.query_one("#until-kind", Select).value = "none"
        await pilot.pause()
        await app.run_action("step")
        await wait_for(pilot, lambda: step_of(app) == 1 and app.controller.state == "paused", timeout=30,
                       what="one step of a default run")
        assert app.dataset is not None and app.dataset.config == DatasetConfig()
        assert app.mounted_pane("dataset") is None  # the run did not need the pane
        await pilot.press("f2")
        pane = app.mounted_pane("dataset")
        assert isinstance(pane, DatasetPane) and pane.dataset is app.dataset
        assert pane.validate_form() == DatasetConfig()  # the form says what the run was built from
        assert app.query_one("#samples", DataTable).row_count > 0
        assert "No dataset yet" not in static_text(app, "#dataset-summary")
        session = app.controller.session
        assert session is not None and app.dataset is session.run.dataset  # showing it changed nothing
