"""The Dataset pane's generation strategy and coverage histograms, as a user sees them."""

from __future__ import annotations

from textual.widgets import Select

from tests.app_support import (
    isolated_models_dir,  # noqa: F401 (autouse: checkpoints go to a tmp dir)
    set_value,
    static_text,
    tiny_settings,
    wait_for,
)
from workbench.app import WorkbenchApp


async def test_the_strategy_is_chosen_in_the_form_and_the_coverage_is_shown() -> None:
    app = WorkbenchApp(initial_pane="dataset")
    async with app.run_test(size=(120, 40)) as pilot:
        await tiny_settings(pilot)
        await set_value(pilot, "#ds-max_value", "99")
        assert app.query_one("#ds-strategy", Select).value == "stratified"
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: app.dataset is not None and not app.dataset_pane.generating,
                       what="the stratified dataset")
        assert app.dataset is not None and app.dataset.config.strategy == "stratified"
        coverage = static_text(app, "#stats-coverage")
        for title in ("answer value", "answer position", "two-digit numbers per expression", "ties"):
            assert title in coverage, title
        assert "0–9" in coverage and "90–99" in coverage  # 0–99 answers in bars of ten
        assert "stratified" in static_text(app, "#dataset-summary")
        # uniform: a user picks it, generates again, and the summary and config follow
        app.query_one("#ds-strategy", Select).value = "uniform"
        await pilot.pause()
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: app.dataset is not None and app.dataset.config.strategy == "uniform"
                       and not app.dataset_pane.generating, what="the uniform dataset")
        assert "uniform" in static_text(app, "#dataset-summary")
        assert app.training.validate_form().dataset.strategy == "uniform"  # type: ignore[union-attr]
