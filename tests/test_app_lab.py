"""The Lab pane (Pilot): each section runs on the shipped encoder and shows what it found; an ablation kept
on while training reaches the live run's model and comes off bit for bit."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import numpy as np
from textual.app import App, ComposeResult
from textual.widgets import Checkbox, Footer, Input, Static

from core.train.checkpoint import read_checkpoint
from core.train.held_out import held_out_split
from core.train.run import Run
from core.train.session import TrainingSession
from tests.app_support import wait_for
from tests.conftest import tiny_config
from workbench.model_source import FixedModelSource
from workbench.panes.lab import LabPane
from workbench.styles import STYLES


class LabHost(App[None]):
    CSS_PATH: ClassVar[list[str | Path]] = [STYLES / "app.tcss", STYLES / "lab.tcss"]  # type: ignore[misc]

    def __init__(self, source: FixedModelSource | None = None, session: TrainingSession | None = None) -> None:
        super().__init__()
        self.source, self.session = source, session

    def compose(self) -> ComposeResult:
        yield LabPane(self.source, lambda: self.session, id="lab-pane")
        yield Footer()

    @property
    def pane(self) -> LabPane:
        return self.query_one(LabPane)


def _shipped(n: int = 300) -> FixedModelSource:
    """The shipped encoder with the first ``n`` examples of its test split (enough for every section)."""
    ck = read_checkpoint("encoder-digits")
    test = held_out_split(ck.config, "test")
    part = replace(test, tokens=test.tokens[:n], lengths=test.lengths[:n], prompt_lengths=test.prompt_lengths[:n],
                   answers=test.answers[:n], op_ids=test.op_ids[:n], n_args=test.n_args[:n], texts=test.texts[:n])
    return FixedModelSource(ck.build_model(), ck.config.dataset.task, "encoder-digits", {"test": part})


def _text(app: App[None], selector: str) -> str:
    return str(app.query_one(selector, Static).render())


async def test_every_section_shows_its_result() -> None:
    app = LabHost(_shipped())
    async with app.run_test(size=(100, 40)) as pilot:
        pane = app.pane
        pane.action_heads()
        await wait_for(pilot, lambda: pane.atlas is not None)
        atlas = _text(app, "#lab-atlas")
        assert "lean most on head 0.0" in atlas and "Max looks for large digits" in atlas
        assert "QK over tokens" in _text(app, "#lab-circuit")  # head 0.0's circuits shown

        app.query_one("#lab-heads", Input).value = "0.0,0.1"
        pane.action_ablate()
        await wait_for(pilot, lambda: pane.ablated is not None)
        ablation = _text(app, "#lab-ablation")
        assert "heads 0.0, 0.1 (zero): accuracy 100.0% → 9" in ablation and "points" in ablation

        pane.action_patch()
        await wait_for(pilot, lambda: pane.patched is not None)
        patching = _text(app, "#lab-patching")
        assert "corrupted Max(3, 0, 2) = 3" in patching and "7/0" in patching

        pane.action_attribute()
        await wait_for(pilot, lambda: pane.attributed is not None)
        assert "frozen" in _text(app, "#lab-attribution") and "head 0.0" in _text(app, "#lab-attribution")


async def test_bad_input_gets_a_reason_not_a_traceback() -> None:
    app = LabHost(_shipped())
    async with app.run_test(size=(80, 24)) as pilot:
        app.query_one("#lab-heads", Input).value = "5.1"
        app.pane.action_ablate()
        await wait_for(pilot, lambda: "✗" in _text(app, "#lab-ablation"))
        assert "no layer 5" in _text(app, "#lab-ablation")
        app.query_one("#lab-clean", Input).value = "Max(3, 7"
        app.pane.action_patch()
        await wait_for(pilot, lambda: "✗" in _text(app, "#lab-patching"))


async def test_an_ablation_kept_on_reaches_the_live_run_and_comes_off() -> None:
    session = TrainingSession(Run(tiny_config(epochs=1)))
    session.start_thread()
    try:
        app = LabHost(None, session)
        async with app.run_test(size=(100, 40)) as pilot:
            before = session.clone_model().params.data.copy()
            app.query_one("#lab-heads", Input).value = "0.0"
            app.query_one("#lab-keep", Checkbox).value = True
            app.pane.action_ablate()
            await wait_for(pilot, lambda: app.pane.live_ablation is not None)
            await wait_for(pilot, lambda: bool(session.run.model.blocks[0].hooks))
            assert "heads 0.0 (zero) switched off" in _text(app, "#lab-status")
            app.query_one("#lab-keep", Checkbox).value = False
            await wait_for(pilot, lambda: not session.run.model.blocks[0].hooks)
            assert app.pane.live_ablation is None
            assert np.array_equal(session.clone_model().params.data, before)  # no step ran: nothing changed
    finally:
        session.close()
