"""Minimal host apps for the Inference and Inspector panes, and helpers to drive them in Pilot tests.

The hosts mount a pane the way the workbench will (same stylesheets, a footer for the bindings) and
route ``OpenInConsole`` from the Inspector to ``InferencePane.run_expression`` as the app is meant to.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Footer, TabbedContent, TabPane

from core.train.session import TrainingSession
from workbench.model_source import ModelSource
from workbench.panes.inference import InferencePane
from workbench.panes.inspector import InspectorPane, OpenInConsole
from workbench.styles import STYLES

CSS: list[str | Path] = [STYLES / "app.tcss", STYLES / "inference.tcss", STYLES / "inspector.tcss"]


class InferenceHost(App[None]):
    CSS_PATH: ClassVar[list[str | Path]] = CSS  # type: ignore[misc]

    def __init__(self, source: ModelSource | None = None) -> None:
        super().__init__()
        self.source = source

    def compose(self) -> ComposeResult:
        yield InferencePane(self.source, id="inference-pane")
        yield Footer()

    @property
    def pane(self) -> InferencePane:
        return self.query_one(InferencePane)


class InspectorHost(App[None]):
    CSS_PATH: ClassVar[list[str | Path]] = CSS  # type: ignore[misc]

    def __init__(self, source: ModelSource | None = None,
                 get_session: Callable[[], TrainingSession | None] | None = None) -> None:
        super().__init__()
        self.source = source
        self.get_session = get_session

    def compose(self) -> ComposeResult:
        yield InspectorPane(self.source, self.get_session, id="inspector-pane")
        yield Footer()

    @property
    def pane(self) -> InspectorPane:
        return self.query_one(InspectorPane)


class BothHost(App[None]):
    """Both panes in tabs, wired like the workbench: OpenInConsole → the Inference pane."""

    CSS_PATH: ClassVar[list[str | Path]] = CSS  # type: ignore[misc]

    def __init__(self, source: ModelSource | None = None) -> None:
        super().__init__()
        self.source = source
        self.opened: list[str] = []

    def compose(self) -> ComposeResult:
        with TabbedContent(initial="inspector", id="panes"):
            with TabPane("Inference", id="inference"):
                yield InferencePane(self.source, id="inference-pane")
            with TabPane("Inspector", id="inspector"):
                yield InspectorPane(self.source, id="inspector-pane")
        yield Footer()

    def on_open_in_console(self, event: OpenInConsole) -> None:
        self.opened.append(event.text)
        self.query_one("#panes", TabbedContent).active = "inference"
        inference = self.query_one(InferencePane)
        inference.run_expression(event.text, event.model)
        self.call_after_refresh(inference.input.focus)


async def wait_until(pilot: Pilot[None], predicate: Callable[[], object], timeout: float = 20.0,
                     what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    await pilot.pause(0.02)
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await pilot.pause(0.02)


async def submit(pilot: Pilot[None], pane: InferencePane, text: str, type_it: bool = False) -> None:
    """Enter ``text`` in the console input (typed key by key, or set at once) and wait for the answer."""
    pane.input.focus()
    await pilot.pause()
    if type_it:
        await pilot.press(*text)
    else:
        pane.input.value = text
    before = len(pane.results)
    await pilot.press("enter")
    await wait_until(pilot, lambda: pane.idle and len(pane.results) > before, what=f"the answer to {text!r}")
    await pilot.pause()


async def inspector_idle(pilot: Pilot[None], pane: InspectorPane, timeout: float = 30.0) -> None:
    await wait_until(pilot, lambda: pane.idle, timeout, "the inspector's workers")
    await pilot.pause()
