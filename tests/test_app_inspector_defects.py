"""The Inspector as a newcomer meets it (issue 12): a gradient check never outlives the model it was run
on, evaluation results are scrolled into view and announced, a live run before its first step says why
‖∇w‖ is 0, and a parameter picked while scrolled down brings its section into view."""

from __future__ import annotations

import pytest
from textual.containers import VerticalScroll
from textual.widgets import Collapsible, DataTable

from core.train.run import Run
from core.train.session import TrainingSession
from tests.app_support import static_text
from tests.conftest import tiny_config
from tests.probe_app_support import InspectorHost, inspector_idle, wait_until
from workbench.model_source import FixedModelSource
from workbench.panes.inspector import InspectorPane


@pytest.fixture(autouse=True)
def real_models_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMLEARN_MODELS", raising=False)  # the shipped models in saved_models/


def tiny_source(steps: int = 2) -> FixedModelSource:
    run = Run(tiny_config("encoder"))
    for _ in range(steps):
        run.train_step()
    return FixedModelSource(run.model, run.config.dataset.task, "tiny",
                            {"test": run.test_split})  # type: ignore[dict-item]


def section_in_view(pane: InspectorPane, selector: str) -> bool:
    """Is the top of section ``selector`` inside the detail column's visible part?"""
    detail = pane.query_one("#insp-detail", VerticalScroll)
    top = pane.query_one(selector, Collapsible).virtual_region.y
    return detail.scroll_y <= top < detail.scroll_y + detail.scrollable_content_region.height


async def test_the_gradient_check_of_the_previous_model_goes_when_another_is_picked() -> None:
    app = InspectorHost(tiny_source())
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.pane
        await inspector_idle(pilot, pane)
        pane.gradcheck_elements = 2
        await app.run_action("gradient_check", pane)
        await wait_until(pilot, lambda: pane.idle and pane.gradcheck is not None, what="the check")
        table = app.query_one("#insp-gradcheck-table", DataTable)
        assert table.display and table.row_count > 0
        await pilot.pause()
        assert section_in_view(pane, "#insp-gradcheck-section")  # below the fold at 80×24, scrolled to
        assert static_text(app, "#insp-gradcheck-status").startswith("tiny: ✓")  # the result names its model
        pane.pick("encoder-digits")
        await inspector_idle(pilot, pane)
        assert not table.display and table.row_count == 0 and pane.gradcheck is None
        status = static_text(app, "#insp-gradcheck-status")
        assert "(The check of tiny was cleared: another model is picked.)" in status and "Press g" in status


async def test_evaluation_results_are_scrolled_into_view_and_announced() -> None:
    app = InspectorHost(tiny_source())
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.pane
        await inspector_idle(pilot, pane)
        assert not section_in_view(pane, "#insp-eval-section")  # below the fold at 80×24
        pane.param_tree.focus()
        await pilot.press("e")
        await wait_until(pilot, lambda: pane.idle and pane.report is not None, what="the evaluation")
        await pilot.pause()
        assert section_in_view(pane, "#insp-eval-section")
        assert static_text(app, "#insp-eval-status").startswith("✓ evaluated tiny on the test split: accuracy")
        # a parameter chosen in the tree now brings the Parameter section back into view
        before = pane.selected
        for _ in range(8):  # down the tree to the next parameter (past blocks › 0 › ln1)
            await pilot.press("down")
            if pane.selected != before:
                break
        assert pane.selected != before
        await inspector_idle(pilot, pane)
        await pilot.pause()
        assert section_in_view(pane, "#insp-param-section")
        assert pane.param_view is not None and pane.param_view.name == pane.selected


async def test_a_live_run_before_its_first_step_says_why_the_gradient_is_zero() -> None:
    session = TrainingSession(Run(tiny_config("encoder")))  # built, never stepped
    app = InspectorHost(get_session=lambda: session)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.pane
        await inspector_idle(pilot, pane)
        text = static_text(app, "#insp-param-stats")
        assert "‖∇w‖ 0" in text
        assert "(no training step since the run was built or loaded:\n ‖∇w‖ and the update appear after" in text


async def test_the_footer_shows_no_stray_character_and_no_cut_key_at_80_columns() -> None:
    from textual.widgets._footer import FooterKey

    from workbench.app import WorkbenchApp
    from workbench.widgets.footer import WorkbenchFooter

    app = WorkbenchApp(initial_pane="inspector")
    async with app.run_test(size=(80, 24)) as pilot:
        app.query_one("#insp-tree").focus()  # the Inspector's own keys r, g, e, x join the footer
        footer = app.query_one(WorkbenchFooter)
        await wait_until(pilot, lambda: any(k.key == "r" for k in footer.query(FooterKey) if k.display),
                         what="the Inspector's keys")
        await pilot.pause(0.1)
        bottom = app.screen._compositor.render_strips()[-1].text
        assert bottom.rstrip().endswith("^p palette"), bottom  # nothing after it (a 't' showed through)
        palette = next(k for k in footer.query(FooterKey) if k.has_class("-command-palette"))
        assert palette.region.right == 80  # the palette key reaches the edge
        shown = [k for k in footer.query(FooterKey) if k.display and k is not palette]
        assert shown and all(k.region.right <= palette.region.x for k in shown)  # no key half behind it
        assert bottom.startswith("r Refresh g Grad check e Evaluate")


def test_the_title_bar_summary_neither_lags_nor_is_cut() -> None:
    from workbench.header_throttle import fit_summary, header_summary

    title = "llmlearn workbench"
    long_ = "paused · step 12,345/31,300 · epoch 40/100"
    assert len(f"{title} — {long_}") > 80 - 18  # cut at 80 columns, as the newcomer saw it
    fitted = fit_summary(long_, title, 80)
    assert fitted == "paused · epoch 40/100" and len(f"{title} — {fitted}") <= 62
    assert fit_summary(long_, title, 160) == long_  # wide enough: all of it
    assert header_summary("running · epoch 3/20", "running") == "running"  # nothing a throttle could delay
    assert header_summary(long_, "paused") == long_


async def test_a_check_still_running_when_another_model_is_picked_never_shows_up() -> None:
    app = InspectorHost(tiny_source())
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.pane
        await inspector_idle(pilot, pane)
        pane.gradcheck_elements = 40
        await app.run_action("gradient_check", pane)
        await wait_until(pilot, lambda: "checking" in static_text(app, "#insp-gradcheck-status"), what="the start")
        pane.pick("encoder-digits")  # while the check of tiny runs
        await inspector_idle(pilot, pane)
        await pilot.pause(0.3)
        assert pane.gradcheck is None and not app.query_one("#insp-gradcheck-table", DataTable).display
        assert "cleared" in static_text(app, "#insp-gradcheck-status")
