"""The Trace view (issue 10): the step debugger of one example, opened from Inference, Learn and the palette."""

from __future__ import annotations

import re

import numpy as np
import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from core.errors import LLMLearnError
from core.probe.trace import trace_checkpoint
from core.train.checkpoint import read_checkpoint
from core.train.session import TrainingSession
from tests.app_support import isolated_models_dir, wait_for  # noqa: F401  (autouse fixture)
from workbench.app import WorkbenchApp
from workbench.cli_trace import format_values
from workbench.commands import COMMANDS, WorkbenchCommands
from workbench.model_source import CheckpointModelSource, SessionModelSource
from workbench.panes.inference import InferencePane
from workbench.panes.learn import LearnPane
from workbench.screens.trace import TraceScreen, open_trace
from workbench.widgets.trace_text import compute_trace

EXPR = "Max(3, 7, 2)"


async def _traced(pilot: Pilot[int]) -> TraceScreen:
    """The Trace screen on top, its trace computed (or failed)."""
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, TraceScreen) and app.screen.is_mounted, what="trace screen")
    screen = app.screen
    assert isinstance(screen, TraceScreen)
    await wait_for(pilot, lambda: screen.idle and (screen.trace is not None or screen.error is not None),
                   what="the trace")
    await pilot.pause()
    return screen


async def _open(pilot: Pilot[int], name: str, text: str = EXPR) -> TraceScreen:
    open_trace(pilot.app, CheckpointModelSource(name), f"ck:{name}", text)
    return await _traced(pilot)


async def _ask(pilot: Pilot[int], key: str, text: str) -> None:
    """Open the screen's input line with ``key`` (/ jump, p parameter), fill it with ``text``, press Enter
    (setting the value: typing it key by key redraws the screen once per character)."""
    await pilot.press(key)
    field = pilot.app.screen.query_one("#trace-ask", Input)
    assert not field.disabled
    field.value = text
    await pilot.press("enter")


def _name(screen: TraceScreen) -> str:
    assert screen.trace is not None
    return screen.trace.pages()[screen.index][1].name


async def test_f12_in_inference_traces_the_latest_answer_and_keys_move_through_the_stages() -> None:
    app = WorkbenchApp(initial_pane="inference")
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one("#inference-pane", InferencePane)
        pane.pick("ck:encoder-digits")
        pane.run_expression(EXPR)
        await wait_for(pilot, lambda: pane.idle and pane.results, what="the answer")
        pane.focus_default()  # the console input has focus: F12 must still open the trace
        await pilot.press("f12")
        screen = await _traced(pilot)
        assert screen.trace is not None and screen.trace.expression == EXPR
        assert "Trace · encoder-digits · Max(3, 7, 2) = 7" in str(screen.query_one("#trace-title").content)
        assert _name(screen) == "tokens" and "F1 · tokens" in screen.stage_plain()
        assert "0:Max" in screen.stage_plain()  # the position axis labelled with the tokens
        await pilot.press("right")
        assert _name(screen) == "targets"
        await pilot.press("l", "j")
        assert _name(screen) == "positions"
        await pilot.press("k", "left", "h")
        assert _name(screen) == "tokens" and screen.index == 0
        await pilot.press("left")
        assert screen.index == 0  # the first stage stays the first
        await pilot.press("end")
        assert screen.index == len(screen.trace.pages()) - 1 and _name(screen) == "update.ratio"
        await pilot.press("home")
        assert screen.index == 0
        await pilot.press("b")
        assert screen.trace.pages()[screen.index][0] == "backward"
        await pilot.press("u")
        assert screen.trace.pages()[screen.index][0] == "update"
        await pilot.press("f")
        assert screen.index == 0
        await _ask(pilot, "slash", "blocks.1.attn")
        assert _name(screen) == "blocks.1.attn.q"
        await pilot.press("n")
        assert _name(screen) == "blocks.1.attn.k"
        await _ask(pilot, "slash", "nothing.like.this")
        assert "✗ no stage name starts with 'nothing.like.this'" in screen.status_plain()
        assert _name(screen) == "blocks.1.attn.k"  # stays where it was
        await pilot.press("escape")
        assert not isinstance(app.screen, TraceScreen)


async def test_the_probabilities_page_shows_the_traces_own_values() -> None:
    app = WorkbenchApp(initial_pane="training")
    async with app.run_test(size=(160, 50)) as pilot:
        screen = await _open(pilot, "encoder-digits")
        await _ask(pilot, "slash", "probabilities")
        assert _name(screen) == "probabilities"
        expected = trace_checkpoint(read_checkpoint("encoder-digits"), EXPR).stage("probabilities")
        assert screen.trace is not None
        shown = screen.trace.stage("probabilities")
        np.testing.assert_allclose(shown.values, expected.values)
        text = screen.stage_plain()
        assert "10 (class)" in text and "p = softmax(logits)" in text
        table = format_values(expected.values, expected.axes, max_cols=10)
        assert all(line.strip() in text for line in table)  # every class with its probability
        assert f"{float(expected.values[7]):.3g}" in text  # the answer's probability, 3 significant digits


async def test_c_checks_a_backward_stage_and_shows_its_error_with_a_mark() -> None:
    app = WorkbenchApp(initial_pane="training")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot, "encoder-digits")
        await pilot.press("c")  # a forward stage: nothing to check, one line says so
        assert "c checks a backward stage" in screen.status_plain()
        await _ask(pilot, "slash", "blocks.0.attn.softmax")
        await pilot.press("b")
        await _ask(pilot, "slash", "blocks.1.attn.softmax")
        assert screen.trace is not None and screen.trace.pages()[screen.index][0] == "backward"
        text = screen.stage_plain()
        assert "upstream G" in text and "gradient out" in text and "rule" in text
        await pilot.press("c")
        await wait_for(pilot, lambda: screen.idle, what="the check")
        await pilot.pause()
        assert "max relative error" in screen.stage_plain() and "✓" in screen.stage_plain()
        # a wrong rule would show ✗: a stage whose check returns a large error
        await pilot.press("right")
        stage = screen.trace.pages()[screen.index][1]
        stage.checker = lambda _n: 0.5
        await pilot.press("c")
        await wait_for(pilot, lambda: screen.idle, what="the check")
        await pilot.pause()
        assert "5.00e-01 ✗" in screen.stage_plain()
        await _ask(pilot, "slash", "head")  # parameter gradients are listed on the head's stage
        await pilot.press("b", "right")
        assert "dhead.w" in screen.stage_plain() and "parameter gradients" in screen.stage_plain()


async def test_the_decoder_trace_shows_the_teacher_forced_tokens_and_the_loss_mask() -> None:
    app = WorkbenchApp(initial_pane="training")
    async with app.run_test(size=(160, 50)) as pilot:
        screen = await _open(pilot, "decoder-0-99")
        assert _name(screen) == "tokens"
        context = str(screen.query_one("#trace-context").content)
        assert "teacher-forced input Max ( 3 , 7 , 2 ) = 7" in context
        assert "scored (loss mask): 8:=, 9:7" in context
        await _ask(pilot, "slash", "loss_mask")
        text = screen.stage_plain()
        assert "only the answer is scored" in text and "8:=" in text
        await _ask(pilot, "slash", "blocks.2.attn.mask")
        assert "−∞" in screen.stage_plain()  # the causal mask


async def test_the_update_pages_follow_one_parameter_and_p_picks_another() -> None:
    app = WorkbenchApp(initial_pane="training")
    async with app.run_test(size=(160, 50)) as pilot:
        screen = await _open(pilot, "encoder-digits")
        await pilot.press("u")
        text = screen.stage_plain()
        rows = [line.split()[0] for line in text.splitlines() if line.startswith(" ") and line.split()]
        shown = [r for r in rows if r in ("w", "g", "m", "v", "m̂", "v̂", "step", "Δw/w")]
        assert shown == ["w", "g", "m", "v", "m̂", "v̂", "step", "Δw/w"]  # one row each, in the optimizer's order
        assert re.search(r"update of (blocks\.|head|embed|ln_f)", text) and "Adam step" in text and "‖Δw‖/‖w‖" in text
        await _ask(pilot, "p", "no.such.param")
        await wait_for(pilot, lambda: screen.idle, what="the retrace")
        assert "✗ no parameter named 'no.such.param'" in screen.status_plain()
        assert screen.trace is not None and screen.trace.update is not None  # the old trace stays
        await _ask(pilot, "p", "head.w")
        await wait_for(pilot, lambda: screen.idle and screen.param == "head.w", what="the retrace")
        await pilot.pause()
        assert screen.trace.update is not None and screen.trace.update.param == "head.w"
        assert "update of head.w" in screen.stage_plain()


async def test_a_bad_expression_is_one_line_and_escape_closes() -> None:
    app = WorkbenchApp(initial_pane="training")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot, "encoder-digits", "Max(3, 7")
        status = screen.status_plain()
        assert status.startswith("✗ ") and "\n" not in status and "Traceback" not in status
        assert screen.trace is None
        await pilot.press("right", "c", "slash")  # nothing to page through: no error either
        assert screen.query_one("#trace-ask").disabled
        await pilot.press("escape")
        assert not isinstance(app.screen, TraceScreen)


async def test_at_80_columns_the_stage_list_hides_and_s_shows_it() -> None:
    app = WorkbenchApp(initial_pane="training")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot, "encoder-digits")
        stages = screen.query_one("#trace-stages")
        assert not stages.display or stages.region.width == 0
        await pilot.press("s")
        await pilot.pause()
        assert stages.region.width > 0
        await pilot.press("s")
        await pilot.pause()
        assert stages.region.width == 0


async def test_escape_first_closes_the_jump_line_then_the_screen() -> None:
    app = WorkbenchApp(initial_pane="training")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot, "encoder-digits")
        await pilot.press("slash", "c")  # typed into the line, not a check
        assert screen.query_one("#trace-ask").has_focus and "c checks" not in screen.status_plain()
        await pilot.press("escape")
        assert app.screen is screen and not screen.query_one("#trace-ask").has_focus
        await pilot.press("escape")
        assert app.screen is not screen


async def test_t_in_the_learn_pane_traces_the_lessons_model() -> None:
    app = WorkbenchApp(initial_pane="learn")
    async with app.run_test(size=(120, 40)) as pilot:
        learn = app.query_one("#learn-pane", LearnPane)
        learn.focus_default()
        await pilot.pause()
        await pilot.press("t")
        screen = await _traced(pilot)
        assert screen.model_name == learn.choice.removeprefix("ck:") == "encoder-digits"
        assert screen.trace is not None and screen.trace.expression == EXPR


async def test_the_palette_entry_traces_the_inference_panes_expression() -> None:
    app = WorkbenchApp(initial_pane="inference")
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one("#inference-pane", InferencePane)
        pane.pick("ck:decoder-0-99")
        pane.input.value = "Min(41, 17)"
        entry = next(action for name, action, _ in COMMANDS if name == "Trace: this expression")
        provider = WorkbenchCommands(app.screen)
        await provider._run(entry)
        screen = await _traced(pilot)
        assert screen.model_name == "decoder-0-99"
        assert screen.trace is not None and screen.trace.expression == "Min(41, 17)" and screen.trace.truth == 17


def test_the_live_run_is_traced_with_its_own_optimizer_state(tiny_run) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        tiny_run.train_step()
    session = TrainingSession(tiny_run)
    trace = compute_trace(SessionModelSource(lambda: session), "First(1, 2, 3)")
    assert trace.update is not None and trace.update.step == 4  # the run's next step, not a fresh Adam's first
    assert trace.update.lr == tiny_run.trainer.current_lr()
    with pytest.raises(LLMLearnError, match="no training run"):
        compute_trace(SessionModelSource(lambda: None), "First(1, 2, 3)")
