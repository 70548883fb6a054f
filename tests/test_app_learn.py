"""The Learn pane in the real app: lessons open, their live cells compute on the chosen model, exercises
are checked against it, progress is remembered, the buttons open the matching views, and a newcomer
starts here."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Markdown, OptionList, Static, TabbedContent

from tests.app_support import isolated_models_dir, wait_for  # noqa: F401  (autouse fixture)
from workbench.app import WorkbenchApp
from workbench.learn_progress import LearnProgress, first_visit
from workbench.lessons import Exercise
from workbench.panes.inference import InferencePane
from workbench.panes.learn import LearnPane
from workbench.widgets.exercise_view import ExerciseView
from workbench.widgets.live_cell import LiveCellView


def _pane(app: WorkbenchApp) -> LearnPane:
    return app.query_one("#learn-pane", LearnPane)


async def _open(pilot, pane: LearnPane, index: int) -> None:  # type: ignore[no-untyped-def]
    pane.open_lesson(index)
    await pilot.pause()
    await wait_for(pilot, lambda: pane.idle and all(v.result or v.error for v in pane.query(LiveCellView)),
                   timeout=60, what="the lesson's live cells")


async def test_f10_shows_the_learn_pane_with_every_lesson_listed() -> None:
    app = WorkbenchApp()
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("f10")
        await pilot.pause()
        assert app.query_one("#panes", TabbedContent).active == "learn"
        pane = _pane(app)
        options = app.query_one("#lesson-list", OptionList)
        assert options.option_count == len(pane.lessons) >= 12
        assert pane.choice == "ck:encoder-digits"  # no live run: the shipped model


async def test_every_lesson_renders_in_the_reader() -> None:
    app = WorkbenchApp(initial_pane="learn")
    async with app.run_test(size=(80, 24)) as pilot:
        pane = _pane(app)
        for index, lesson in enumerate(pane.lessons):
            pane.open_lesson(index)
            await pilot.pause()
            body = app.query_one("#lesson-body")
            texts = [p for p in lesson.parts if type(p).__name__ == "Markdown"]
            assert len(body.query(Markdown)) == len(texts) >= 3, lesson.key
            assert len(body.query(LiveCellView)) == len(lesson.cells)
            assert len(body.query(ExerciseView)) == len(lesson.exercises) >= 1
            assert app.query_one("#learn-title", Static).content.plain.startswith(f"{lesson.number}. ")


async def test_lessons_open_and_their_cells_compute_without_an_error() -> None:
    """Three lessons in the app (tokens, attention, the decoder's cells on an encoder); every cell of every
    lesson on every model is computed by tests/test_lessons.py."""
    app = WorkbenchApp(initial_pane="learn")
    async with app.run_test(size=(160, 50)) as pilot:
        pane = _pane(app)
        for index in (0, 2, 10):
            lesson = pane.lessons[index]
            await _open(pilot, pane, index)
            views = list(pane.query(LiveCellView))
            assert len(views) == len(lesson.cells) >= 1
            errors = [(v.cell.kind, v.error) for v in views if v.error]
            assert errors == [], f"lesson {lesson.number}: {errors}"
            assert all(v.shown_text().strip() for v in views)
            assert len(pane.query(ExerciseView)) == len(lesson.exercises)


async def test_an_exercise_is_checked_against_the_model_and_remembered(tmp_path: Path) -> None:
    app = WorkbenchApp(initial_pane="learn")
    async with app.run_test(size=(80, 24)) as pilot:
        pane = _pane(app)
        index = next(i for i, lesson in enumerate(pane.lessons)
                     if any(e.check == "score_scale" for e in lesson.exercises))
        await _open(pilot, pane, index)
        view = next(v for v in pane.query(ExerciseView) if v.exercise.check == "score_scale")
        view.post_message(ExerciseView.Answered(view, "3"))  # the shipped model's d_head is 16: √16 = 4
        await wait_for(pilot, lambda: view.verdict is not None, timeout=30, what="the verdict")
        assert view.verdict is not None and not view.verdict.correct and "4" in view.verdict.measured
        view.post_message(ExerciseView.Answered(view, "4"))
        await wait_for(pilot, lambda: view.verdict is not None and view.verdict.correct, timeout=30,
                       what="a correct verdict")
        assert view.has_class("-solved")
        key = pane.lessons[index].key
        assert LearnProgress.load().is_solved(key, view.exercise.id)
        assert key in LearnProgress.load().opened


async def test_a_bad_expression_in_a_cell_is_one_line_in_the_cell() -> None:
    app = WorkbenchApp(initial_pane="learn")
    async with app.run_test(size=(160, 50)) as pilot:
        pane = _pane(app)
        await _open(pilot, pane, 0)
        view = pane.query(LiveCellView).first()
        view.post_message(LiveCellView.Compute(view, "Max(3, 7"))
        await wait_for(pilot, lambda: view.error is not None, timeout=30, what="the error")
        assert view.error is not None and "\n" not in view.error and "✗" in view.shown_text()


async def test_the_attention_button_opens_the_attention_map_for_the_expression_on_the_same_model() -> None:
    app = WorkbenchApp(initial_pane="learn")
    async with app.run_test(size=(160, 50)) as pilot:
        pane = _pane(app)
        index = next(i for i, lesson in enumerate(pane.lessons) if any(c.kind == "attention_qk" for c in lesson.cells))
        await _open(pilot, pane, index)
        view = next(v for v in pane.query(LiveCellView) if v.cell.kind == "attention_qk")
        action = next(a for a in view.result.actions if a[0] == "attention")  # type: ignore[union-attr]
        view.post_message(LiveCellView.Open(action, view.expression))
        await wait_for(pilot, lambda: app.mounted_pane("inference") is not None, what="the Inference pane")
        inference = app.query_one("#inference-pane", InferencePane)
        await wait_for(pilot, lambda: inference.results and inference.idle, timeout=30, what="the answer")
        assert app.query_one("#panes", TabbedContent).active == "inference"
        assert inference.choice == pane.choice == "ck:encoder-digits"
        assert inference.results[-1].text == view.expression and inference.results[-1].error is None


async def test_on_a_narrow_screen_the_list_and_the_lesson_take_turns() -> None:
    app = WorkbenchApp(initial_pane="learn")
    async with app.run_test(size=(80, 24)) as pilot:
        pane = _pane(app)
        await pilot.pause()
        assert app.focused is app.query_one("#lesson-list", OptionList)
        reader = app.query_one("#learn-reader")
        assert not reader.display or reader.region.width == 0
        await pilot.press("down", "enter")
        await pilot.pause()
        assert pane.current == 1 and pane.has_class("-reading")
        assert app.query_one("#learn-contents").region.width == 0 and reader.region.width >= 78
        await pilot.press("n")
        await pilot.pause()
        # paging past a lesson whose exercises are not yet solved leaves it opened (•), not done (✓)
        lesson = pane.lessons[1]
        assert pane.current == 2 and lesson.key not in pane.progress.finished and lesson.key in pane.progress.opened
        for part in lesson.parts:
            if isinstance(part, Exercise):
                pane.progress.mark_solved(lesson.key, part.id)
        await pilot.press("p", "n")
        await pilot.pause()
        assert pane.current == 2 and lesson.key in pane.progress.finished
        await pilot.press("escape")
        await pilot.pause()
        assert not pane.has_class("-reading") and app.focused is app.query_one("#lesson-list", OptionList)


def test_a_newcomer_starts_on_the_learn_pane_once(tmp_path: Path) -> None:
    path = tmp_path / "progress.json"
    assert first_visit(path) is True
    assert path.exists() and first_visit(path) is False


@pytest.mark.parametrize("first", [True, False])
def test_run_app_opens_on_learn_only_the_first_time(monkeypatch: pytest.MonkeyPatch, first: bool) -> None:
    import workbench.app as app_module

    if not first:
        first_visit()  # an earlier visit
    opened: list[str] = []
    monkeypatch.setattr(app_module.WorkbenchApp, "run", lambda self, mouse=True: opened.append(self.initial_pane))
    app_module.run_app()
    assert opened == ["learn" if first else "training"]


async def test_lessons_follow_the_live_run_once_there_is_one_unless_a_model_was_chosen() -> None:
    from tests.app_support import tiny_settings

    app = WorkbenchApp(initial_pane="training")
    async with app.run_test(size=(160, 50)) as pilot:
        await tiny_settings(pilot)
        await app.run_action("step")
        await wait_for(pilot, lambda: app.controller.session is not None and app.controller.state == "paused",
                       what="a paused run")
        await app.run_action("show_pane('learn')")
        pane = _pane(app)
        assert pane.choice == "ck:encoder-digits"
        await _open(pilot, pane, 0)
        assert pane.choice == "live"
        assert all(v.error is None for v in pane.query(LiveCellView))  # computed on the paused live run
        pane.user_picked = True
        pane.pick("ck:decoder-0-99")
        await _open(pilot, pane, 1)
        assert pane.choice == "ck:decoder-0-99"


async def test_lessons_do_not_follow_a_live_run_whose_task_their_example_does_not_fit() -> None:
    """After a Sum run, lesson 1's cells all said "Max is not part of this task, which uses Sum"."""
    from tests.app_support import tiny_settings

    app = WorkbenchApp(initial_pane="training")
    async with app.run_test(size=(160, 50)) as pilot:
        await tiny_settings(pilot)
        dataset = app.dataset_pane
        for op in ("First", "Second", "Last", "Max", "Min"):
            dataset.query_one(f"#op-{op}").value = False  # type: ignore[attr-defined]
        dataset.query_one("#op-Sum").value = True  # type: ignore[attr-defined]
        await pilot.pause()
        await app.run_action("step")
        await wait_for(pilot, lambda: app.controller.session is not None and app.controller.state == "paused",
                       what="a paused run")
        assert app.controller.session is not None
        assert app.controller.session.run.config.dataset.task.operations == ("Sum",)
        await app.run_action("show_pane('learn')")
        pane = _pane(app)
        await _open(pilot, pane, 0)
        assert pane.choice == "ck:encoder-digits"
        assert all(v.error is None for v in pane.query(LiveCellView))
