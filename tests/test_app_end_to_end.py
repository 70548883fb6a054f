"""The whole loop as a learner does it, in the app: train the default task until validation accuracy
reaches 99% (a run-until condition), then evaluate the held-out test split in the Inspector."""

from __future__ import annotations

import re

from textual.widgets import Input, Select

from core.train.events import Cause
from tests.app_support import (
    isolated_models_dir,  # noqa: F401 (autouse: checkpoints go to a tmp dir)
    static_text,
    wait_for,
)
from workbench.app import WorkbenchApp
from workbench.panes.inspector import InspectorPane


async def test_default_task_trains_to_99_percent_and_the_inspector_confirms_it_on_test() -> None:
    app = WorkbenchApp()
    async with app.run_test(size=(160, 50)) as pilot:
        # the default settings, as the app opens; only the stopping condition is chosen
        app.query_one("#until-kind", Select).value = "val_accuracy"
        await pilot.pause()
        app.query_one("#until-value", Input).value = "99%"
        await app.query_one("#until-value", Input).action_submit()
        await pilot.pause()
        await app.run_action("toggle_run")
        await wait_for(pilot, lambda: app.controller.state == "paused", timeout=120, what="validation ≥ 99%")
        assert app.controller.cause is Cause.UNTIL, app.controller.reason
        assert app.controller.last_eval is not None and app.controller.last_eval.accuracy >= 0.99

        await app.run_action("show_pane('inspector')")
        pane = app.query_one(InspectorPane)
        await wait_for(pilot, lambda: pane.idle, timeout=30, what="the inspector")
        await app.run_action("evaluate", pane)
        await wait_for(pilot, lambda: pane.idle and pane.report is not None, timeout=60, what="the evaluation")
        report = pane.report
        assert report is not None and report.n == 1000 and report.accuracy >= 0.99
        text = static_text(app, "#insp-eval-accuracy")
        shown = re.match(r"test: accuracy (\d+\.\d+)%", text)
        assert shown is not None and float(shown.group(1)) >= 99.0, text
        for op in ("First", "Second", "Last", "Max", "Min"):
            assert op in text
