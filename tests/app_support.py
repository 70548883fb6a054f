"""Helpers for the Pilot tests of the Textual workbench: tiny settings and polling without blocking.

While training runs the CPU is never idle, so ``pilot.press`` (which waits for idleness) would take
seconds: these helpers poll with ``pilot.pause(delay)`` and drive running sessions with ``run_action``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Select

from workbench.app import WorkbenchApp
from workbench.panes.dataset import DatasetPane
from workbench.panes.training import TrainingPane
from workbench.served import SERVED_ENV


@pytest.fixture(autouse=True)
def isolated_models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Checkpoints of the app tests go to a temporary directory, never to saved_models/ (each app test
    module imports this autouse fixture)."""
    d = tmp_path / "models"
    monkeypatch.setenv("LLMLEARN_MODELS", str(d))
    return d


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data folder of the test's own for dataset files, in a local (not served) app; a module makes it
    autouse with ``pytestmark = pytest.mark.usefixtures("data_dir")`` after importing it."""
    d = tmp_path / "data"
    monkeypatch.setenv("LLMLEARN_DATA", str(d))
    monkeypatch.delenv(SERVED_ENV, raising=False)
    monkeypatch.delenv("TEXTUAL_DRIVER", raising=False)
    return d


def models_path() -> Path:
    """Where the app saves checkpoints in this test."""
    return Path(os.environ["LLMLEARN_MODELS"])


TINY_DATASET = {"n_train": "320", "n_val": "64", "n_test": "64"}
TINY_MODEL = {"d_model": "16", "n_layers": "1", "n_heads": "2", "d_ff": "32", "epochs": "3", "lr": "0.003"}


async def wait_for(pilot: Pilot[int], predicate: Callable[[], object], timeout: float = 15.0,
                   what: str = "condition") -> None:
    """Poll ``predicate`` every 20 ms (letting the app run) until it is true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await pilot.pause(0.02)


async def wait_for_screen(pilot: Pilot[int], screen_type: type) -> None:
    """Wait until a pushed screen of ``screen_type`` is on top and mounted (its widgets exist)."""
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, screen_type) and app.screen.is_mounted,
                   what=screen_type.__name__)


async def set_value(pilot: Pilot[int], selector: str, value: str) -> None:
    """Type ``value`` into the Input at ``selector`` and wait until the forms have validated it.

    The Changed message bubbles up one queue at a time and a form validates after the next refresh, so
    one pause is not always enough on a loaded machine: wait until no form has a validation pending."""
    app = pilot.app
    assert isinstance(app, WorkbenchApp)
    app.query_one(selector, Input).value = value
    # Waiting for idleness only works while nothing trains.
    await (pilot.pause(0.05) if app.controller.state == "running" else pilot.pause())
    await wait_for(pilot, lambda: not _validation_pending(app), what="the forms to validate")


def _validation_pending(app: WorkbenchApp) -> bool:
    return any(pane.validation_pending for pane in app.query(DatasetPane)) or any(
        pane.validation_pending for pane in app.query(TrainingPane))


async def tiny_settings(pilot: Pilot[int], *, default_until: bool = False, **overrides: str) -> None:
    """Small dataset and model in the forms, so a run takes milliseconds per step; and, unless
    ``default_until``, "no condition" chosen in the until widget, as a user would, so that a test's run is
    not paused by the default val acc ≥ 99% at a moment that depends on the machine's speed."""
    app = pilot.app
    assert isinstance(app, WorkbenchApp)
    await app.ensure_pane("dataset")  # built on its first visit; its form is the next run's dataset
    if not default_until:
        app.query_one("#until-kind", Select).value = "none"
    for key, value in TINY_DATASET.items():
        app.query_one(f"#ds-{key}", Input).value = overrides.pop(key, value)
    for key, value in TINY_MODEL.items():
        app.query_one(f"#cfg-{key}", Input).value = overrides.pop(key, value)
    for key, value in overrides.items():
        app.query_one(f"#cfg-{key}", Input).value = value
    await pilot.pause()


def step_of(app: WorkbenchApp) -> int:
    s = app.controller.session
    return -1 if s is None else s.run.step


def static_text(app: WorkbenchApp, selector: str) -> str:
    """The plain text a Static currently shows (what the user reads), without line wrapping."""
    from rich.console import Console
    from rich.text import Text
    from textual.content import Content
    from textual.widgets import Static

    content = app.screen.query_one(selector, Static).content
    if isinstance(content, str):
        return Text.from_markup(content).plain
    if isinstance(content, Text | Content):
        return content.plain
    console = Console(width=200, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(content)
    return console.export_text()
