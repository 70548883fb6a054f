"""F1 help and the command palette as a newcomer meets them at 80×24 (issue 12): the whole help is
reachable and lists the panes' own keys; the palette has every pane action by name."""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.widgets import Input, Select

from tests.app_support import (
    isolated_models_dir,  # noqa: F401 (autouse: checkpoints go to a tmp dir)
    static_text,
    wait_for,
    wait_for_screen,
)
from workbench.app import WorkbenchApp
from workbench.commands import COMMANDS, WorkbenchCommands
from workbench.panes.inspector import InspectorPane
from workbench.screens.help import HelpScreen


async def test_help_fits_80x24_scrolls_to_its_end_and_lists_the_panes_keys() -> None:
    app = WorkbenchApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        await wait_for_screen(pilot, HelpScreen)
        screen = app.screen
        assert isinstance(screen, HelpScreen)
        whole = screen.region
        for selector in ("#help-dialog", "#help-hint", ".dialog-title"):
            assert whole.contains_region(screen.query_one(selector).region), selector
        scroll = screen.query_one("#help-scroll", VerticalScroll)
        assert scroll.has_focus and scroll.max_scroll_y > 0  # more than fits: it must scroll
        await pilot.press("end")
        await wait_for(pilot, lambda: scroll.scroll_y == scroll.max_scroll_y, what="the end of the help")
        rows = screen.rows()
        keys = {key for key, _ in rows}
        text = "\n".join(f"{k} {a}" for k, a in rows)
        for key in ("r", "g", "e", "x"):  # the Inspector's own keys
            assert key in keys, key
        assert "↑ (input)" in keys and "↓ (input)" in keys  # console history
        assert "enter (a mistake)" in keys and "Inference console" in text
        assert "?" in keys and "question_mark" not in text  # the key as it is typed
        for binding in app.BINDINGS:  # and still every app binding
            first = binding.key.split(",")[0]  # type: ignore[union-attr]
            assert any(first.lower() in k.lower() or k == "?" for k in keys), first
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


def test_the_palette_has_every_pane_action_by_name() -> None:
    names = " | ".join(name for name, _, _ in COMMANDS).lower()
    for wanted in ("evaluate", "gradient check", "refresh", "counterexample", "learning rate", "decoding greedy",
                   "sampling", "beam"):
        assert wanted in names, wanted


async def _run_command(pilot, name: str) -> None:
    action = next(a for n, a, _ in COMMANDS if n == name)
    await WorkbenchCommands(pilot.app.screen)._run(action)
    await pilot.pause()


async def test_palette_inspector_commands_switch_to_the_pane_and_run_its_action() -> None:
    app = WorkbenchApp()
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.mounted_pane("inspector") is None  # built on its first visit
        await _run_command(pilot, "Inspector: evaluate")
        assert app.query_one("#panes").active == "inspector"  # type: ignore[attr-defined]
        inspector = app.query_one("#inspector-pane", InspectorPane)
        await wait_for(pilot, lambda: inspector.report is not None or "✗" in static_text(app, "#insp-eval-status"),
                       what="an evaluation (or its reason)")



async def test_palette_decoding_and_learning_rate_commands_focus_their_field() -> None:
    app = WorkbenchApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await _run_command(pilot, "Inference: decoding by beam search")
        assert app.query_one("#panes").active == "inference"  # type: ignore[attr-defined]
        assert app.query_one("#inf-strategy", Select).value == "beam"
        await wait_for(pilot, lambda: app.focused is app.query_one("#inf-beam", Input), what="the beam field")
        await _run_command(pilot, "Training: set learning rate…")
        await wait_for(pilot, lambda: app.focused is app.query_one("#lr-input", Input), what="the lr field")


async def test_typing_lr_and_a_number_in_the_palette_offers_to_set_it() -> None:
    app = WorkbenchApp()
    async with app.run_test(size=(80, 24)) as pilot:
        provider = WorkbenchCommands(app.screen)
        hits = [hit async for hit in provider.search("lr 5e-4")]
        assert hits and "set learning rate to 5e-4" in str(hits[0].text)
        assert not [hit async for hit in provider.search("lr fast") if "to fast" in str(hit.text)]
        await hits[0].command()
        await wait_for(pilot, lambda: any("0.0005" in n.message for n in app._notifications),
                       what="the new learning rate confirmed")


async def test_a_lesson_opens_from_the_palette_by_its_title() -> None:
    """The palette had no lessons: "training dynamics" found nothing."""
    names = [name for name, _, _ in COMMANDS]
    assert "Lesson 10: Training dynamics: what the curves tell you" in names
    assert sum(n.startswith("Lesson ") for n in names) == 12
    app = WorkbenchApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await _run_command(pilot, "Lesson 10: Training dynamics: what the curves tell you")
        assert app.query_one("#panes").active == "learn"  # type: ignore[attr-defined]
        pane = app.query_one("#learn-pane")
        await wait_for(pilot, lambda: pane.current == 9, what="lesson 10 open")  # type: ignore[attr-defined]
        assert pane.has_class("-reading")  # at 80 columns the reader takes the screen
