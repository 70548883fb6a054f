"""The Inference pane as a user drives it: typed expressions answered by the shipped models, bad input,
batches and history, the attention heatmap per layer and head, decoding strategies (beam search), the
logit lens, the live-run source — asserting on what the widgets show."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from textual import events
from textual.widgets import Select

from core.data.expression import parse_expression
from core.data.task import TaskConfig
from core.errors import ExpressionError
from core.probe.answers import ProbeOptions, parse_options, split_inputs
from core.probe.generation import generate_answer
from core.train.checkpoint import read_checkpoint
from core.train.run import Run
from core.train.session import TrainingSession
from tests.app_support import static_text
from tests.conftest import tiny_config
from tests.probe_app_support import InferenceHost, submit, wait_until
from workbench.model_source import RUNNING, FixedModelSource, SessionModelSource
from workbench.panes.inference import InferencePane
from workbench.probes import probe_texts
from workbench.widgets.attention_map import AttentionMap


@pytest.fixture(autouse=True)
def real_models_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests read the shipped models in saved_models/."""
    monkeypatch.delenv("LLMLEARN_MODELS", raising=False)


def tiny_source(kind: str = "encoder", steps: int = 0) -> FixedModelSource:
    run = Run(tiny_config(kind))
    for _ in range(steps):
        run.train_step()
    return FixedModelSource(run.model, run.config.dataset.task, f"tiny {kind}")


async def test_encoder_checkpoint_answers_a_typed_expression() -> None:
    app = InferenceHost()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.pane
        pane.pick("encoder-digits")
        await submit(pilot, pane, "Max(3, 7, 2)", type_it=True)
        result = pane.results[-1]
        assert result.error is None and result.answer == 7 and result.truth == 7 and result.correct
        console = pane.console_text()
        assert "› Max(3, 7, 2)" in console
        assert "✓ 7   true answer 7" in console
        # the top-k bars: the answer first, with its probability
        bar_line = next(line for line in console.splitlines() if line.strip().startswith("7 █"))
        assert f"{result.prediction.top[0][1]:.1%}".rjust(6) in bar_line  # type: ignore[union-attr]
        title = static_text(app, "#inf-detail-title")
        assert "Max(3, 7, 2) = 7" in title and "model: 7" in title and "encoder-digits" in title
        assert "block 2" in static_text(app, "#inf-lens")  # the logit lens, one line per layer
        assert app.query_one("#inf-decoding").display is False or pane.has_class("-encoder")


async def test_decoder_checkpoint_answers_a_typed_expression_token_by_token() -> None:
    app = InferenceHost()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.pane
        pane.pick("decoder-0-99")
        await submit(pilot, pane, "Max(31, 7, 95, 12)")
        result = pane.results[-1]
        assert result.error is None and result.answer == 95 and result.correct
        console = pane.console_text()
        assert "✓ 95   true answer 95 · greedy" in console
        assert "tokens 9 100%  5 100%  [EOS] 100%" in console
        generation = static_text(app, "#inf-generation")
        assert "step 1 ▸ 9" in generation and "step 2 ▸ 5" in generation and "step 3 ▸ [EOS]" in generation
        assert "read at position 13 (=)" in static_text(app, "#inf-lens")
        assert not pane.has_class("-encoder")


async def test_bad_input_shows_one_line_errors_and_the_app_keeps_running() -> None:
    app = InferenceHost()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.pane
        pane.pick("encoder-digits")
        await submit(pilot, pane, "Max(1, 2")
        assert pane.results[-1].error is not None
        assert "✗ missing ')' to close Max(" in pane.console_text()
        await submit(pilot, pane, "Max(31, 7, 2)")  # 0–9 only for this model
        assert pane.results[-1].error is not None and "31" in pane.results[-1].error
        await submit(pilot, pane, "   ;  ;")
        assert "type an expression" in pane.results[-1].error  # type: ignore[operator]
        await submit(pilot, pane, "\x00\x1b[31mMax(((((")
        assert pane.results[-1].error
        # after all that, a good expression is still answered
        await submit(pilot, pane, "Min(4, 5, 6)")
        assert pane.results[-1].answer == 4 and pane.results[-1].error is None
        assert app.is_running

        # a bad decoding option is refused for a decoder model, with the reason
        pane.pick("decoder-0-99")
        pane.set_strategy("sample", temperature=1.0)
        pane.query_one("#inf-temperature").value = "hot"  # type: ignore[attr-defined]
        await submit(pilot, pane, "Max(3, 7)")
        assert "temperature must be a number" in (pane.results[-1].error or "")
        assert "✗ temperature must be a number ≥ 0, got 'hot'" in pane.console_text()
        # and no model at all (the default "live run" without a session) is one line too
        pane.pick("live")
        await submit(pilot, pane, "Max(3, 7)")
        assert "no training run yet" in (pane.results[-1].error or "")
        assert app.is_running


async def test_batch_input_paste_and_history() -> None:
    app = InferenceHost()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.pane
        pane.pick("encoder-digits")
        pane.input.focus()
        await pilot.pause()
        # a pasted multi-line text keeps every line (joined with "; "), each expression is answered
        pane.input.post_message(events.Paste("Max(1, 2, 3)\nMin(4, 5, 6)\n\nbogus\nFirst(7, 8, 9)"))
        await pilot.pause()
        assert pane.input.value == "Max(1, 2, 3); Min(4, 5, 6); bogus; First(7, 8, 9)"
        await pilot.press("enter")
        await wait_until(pilot, lambda: pane.idle and len(pane.results) >= 4, what="the batch")
        answers = [(r.text, r.answer, r.error is None) for r in pane.results[-4:]]
        assert answers[0] == ("Max(1, 2, 3)", 3, True)
        assert answers[1] == ("Min(4, 5, 6)", 4, True)
        assert answers[2][2] is False  # "bogus": an error line, the batch goes on
        assert answers[3] == ("First(7, 8, 9)", 7, True)
        await submit(pilot, pane, "Last(1, 2, 3)")
        # ↑ recalls earlier entries, ↓ comes back to the (empty) draft
        await pilot.press("up")
        assert pane.input.value == "Last(1, 2, 3)"
        await pilot.press("up")
        assert pane.input.value.startswith("Max(1, 2, 3); Min")
        await pilot.press("down", "down")
        assert pane.input.value == ""


async def test_attention_heatmap_follows_the_layer_and_head() -> None:
    app = InferenceHost()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.pane
        pane.pick("encoder-digits")
        await submit(pilot, pane, "Max(3, 7, 2)")
        amap = app.query_one("#inf-attention", AttentionMap)
        prediction = pane.results[-1].prediction
        assert prediction is not None and amap.n_layers == 2 and amap.n_heads == 4
        assert amap.tokens == ["Max", "(", "3", ",", "7", ",", "2", ")"]

        def shown() -> tuple[str, str]:
            text = amap.build().plain
            return text.splitlines()[0], text

        caption, mean_map = shown()
        assert caption.startswith("layer 0 (0–1) · mean of heads")
        assert "Max▶" in mean_map  # the position the encoder reads is marked
        # head 2 of layer 0 (from 0, as in blocks.0.attn), picked with the Select
        app.query_one("#inf-head", Select).value = 2
        await pilot.pause()
        caption, head_map = shown()
        assert caption.startswith("layer 0 (0–1) · head 2 (0–3)")
        assert head_map != mean_map
        assert (amap.matrix() == prediction.attention[0][2]).all()
        # layer 1 with the keyboard: focus the map, ↓ next layer, → next head (the Selects follow)
        amap.focus()
        await pilot.press("down")
        caption, layer2 = shown()
        assert caption.startswith("layer 1 (0–1) · head 2 (0–3)") and layer2 != head_map
        assert app.query_one("#inf-layer", Select).value == 1
        labels = [str(prompt) for prompt, _ in app.query_one("#inf-head", Select)._options]
        assert labels == ["mean", "0", "1", "2", "3"]  # after the label "head ": never "head head 1"
        await pilot.press("right")
        assert shown()[0].startswith("layer 1 (0–1) · head 3 (0–3)")
        assert app.query_one("#inf-head", Select).value == 3
        assert (amap.matrix() == prediction.attention[1][3]).all()
        # the cells print the weights in percent: row "Max" of this head
        row = next(line for line in shown()[1].splitlines() if line.startswith("Max"))
        first = round(prediction.attention[1][3][0][0] * 100)
        assert row.split("▶")[1].split()[0] == (str(first) if first < 100 else "**") or first == 0


async def test_beam_search_shows_the_beams_best_sequence() -> None:
    app = InferenceHost()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.pane
        pane.pick("decoder-0-99")
        pane.set_strategy("beam", beam_width=3)
        text = "Min(57, 23, 81)"
        await submit(pilot, pane, text)
        ck = read_checkpoint("decoder-0-99")
        expected = generate_answer(ck.build_model(), ck.config.dataset.task, text, "beam", beam_width=3)
        result = pane.results[-1]
        assert result.generation is not None and result.generation.strategy == "beam"
        assert result.generation.tokens == expected.tokens == ["2", "3", "[EOS]"]
        assert result.answer == expected.answer == 23
        console = pane.console_text()
        assert "✓ 23   true answer 23 · beam search" in console
        best = expected.beams[0]
        assert f"  23 {'█' * 20}" in console and " ".join(best.tokens) in console  # the best hypothesis first
        generation = static_text(app, "#inf-generation")
        assert generation.startswith("beam") and "hypotheses, best first" in generation
        # sampling with a temperature near 0 is greedy; width-1 beam too
        pane.set_strategy("sample", temperature=0.0, top_k=3)
        await submit(pilot, pane, text)
        assert pane.results[-1].answer == 23 and "· sample" in pane.console_text()


async def test_live_run_source_answers_while_paused_and_refuses_while_running() -> None:
    run = Run(tiny_config("encoder"))
    session = TrainingSession(run)
    current: list[Any] = [session]
    app = InferenceHost(SessionModelSource(lambda: current[0]))
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.pane
        await submit(pilot, pane, "Max(3, 7, 2)")
        result = pane.results[-1]
        assert result.error is None and result.label == "live run · step 0 · idle"
        assert result.answer is not None

        class Running:  # a session that is training right now
            state = "running"

        current[0] = Running()
        await submit(pilot, pane, "Max(3, 7, 2)")
        assert pane.results[-1].error == RUNNING
        assert "training is running — pause it" in pane.console_text()


def test_snapshot_of_the_inference_pane_answering(snap_compare) -> None:  # type: ignore[no-untyped-def]
    """Beam search on the shipped decoder, an unparsable input and the attention map of one head, as
    the user sees them (a picture under tests/__snapshots__/, compared exactly)."""

    async def answer(pilot) -> None:  # type: ignore[no-untyped-def]
        pane = pilot.app.pane
        pane.pick("decoder-0-99")
        pane.set_strategy("beam", beam_width=3)
        await submit(pilot, pane, "Max(31, 7, 95, 12); Max(1, 2")
        await submit(pilot, pane, "Last(42, 17)")
        pilot.app.query_one("#inf-head", Select).value = 1
        pane.input.cursor_blink = False  # a blinking cursor would make the picture depend on the moment
        pane.input.focus()
        await pilot.pause(0.1)

    assert snap_compare(InferenceHost(), terminal_size=(120, 40), run_before=answer)


async def test_narrow_terminal_stacks_the_console_above_the_details() -> None:
    app = InferenceHost()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.pane
        pane.pick("encoder-digits")
        await submit(pilot, pane, "Max(3, 7, 2)")
        assert pane.has_class("-stacked")
        console, detail = app.query_one("#inf-console"), app.query_one("#inf-detail")
        assert console.region.bottom <= detail.region.y  # one above the other
        assert console.region.height >= 5 and detail.region.width >= 70


# -- property-based: nothing typed can escape as an exception -----------------------------------------------
TASK_0_9 = TaskConfig()
TASK_0_99 = TaskConfig(max_value=99, min_args=2, max_args=5)
expression_like = st.text(alphabet=st.sampled_from(list("MaxinFrstSecodLm(),;0123456789 \n\t-+._")), max_size=40)
any_text = st.one_of(st.text(max_size=60), expression_like)


@settings(max_examples=300, deadline=None)
@given(text=any_text)
def test_parse_expression_only_ever_raises_expression_error(text: str) -> None:
    for task in (None, TASK_0_9, TASK_0_99):
        try:
            parse_expression(text, task)
        except ExpressionError as exc:
            assert str(exc)  # a message to show


_TINY: dict[str, FixedModelSource] = {}


def _tiny(kind: str) -> FixedModelSource:
    if kind not in _TINY:
        _TINY[kind] = tiny_source(kind)
    return _TINY[kind]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=any_text, kind=st.sampled_from(["encoder", "decoder"]),
       strategy=st.sampled_from(["greedy", "sample", "beam"]))
def test_probing_arbitrary_text_never_raises(text: str, kind: str, strategy: str) -> None:
    probe = _tiny(kind).live()
    assert not isinstance(probe, str)
    texts = split_inputs(text)
    results = probe_texts(probe, texts, ProbeOptions(strategy=strategy, temperature=0.7, top_k=2, beam_width=2))
    assert len(results) == len(texts)
    for r in results:
        assert r.error is not None or (r.prediction is not None and r.prediction.error is None)
        assert r.error is None or r.error.strip()


@settings(max_examples=100, deadline=None)
@given(strategy=st.text(max_size=8), temperature=st.text(max_size=8), top_k=st.text(max_size=6),
       beam=st.text(max_size=6))
def test_option_parsing_raises_only_value_error(strategy: str, temperature: str, top_k: str, beam: str) -> None:
    try:
        options = parse_options(strategy, temperature, top_k, beam)
    except ValueError as exc:
        assert str(exc)
    else:
        assert options.strategy in ("greedy", "sample", "beam") and options.temperature >= 0


class _AppInThread:
    """A Pilot-driven app running on its own event loop in a thread, so a synchronous hypothesis test can
    send it many inputs without starting an app per example."""

    def __init__(self, app: InferenceHost) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="pilot-app", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as exc:
            self.error = exc
            self.ready.set()

    async def _main(self) -> None:
        async with self.app.run_test(size=(120, 40)) as pilot:
            self.pilot = pilot
            self.stop = asyncio.Event()
            self.ready.set()
            await self.stop.wait()

    def __enter__(self) -> _AppInThread:
        self.thread.start()
        assert self.ready.wait(30), "the app did not start"
        if self.error:
            raise self.error
        return self

    def call(self, fn: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        """Run ``fn`` on the app's loop in the app's context (``call_from_thread`` sets it up) and wait."""
        return self.app.call_from_thread(fn)

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(30)


@pytest.fixture(scope="module")
def console_app() -> Iterator[_AppInThread]:
    with _AppInThread(InferenceHost(_tiny("decoder"))) as running:
        yield running


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=any_text)
@example(text="Max(3, 7, 2)")  # valid input must be answered, not merely "handled"
@example(text="First(1, 2, 3); Min(4, 5, 6)\nLast(7, 8, 9)")
def test_console_input_survives_arbitrary_text(console_app: _AppInThread, text: str) -> None:
    app = console_app.app
    pane: InferencePane = app.pane

    async def enter() -> tuple[int, int]:
        before = len(pane.results)
        pane.input.focus()
        pane.input.value = ""
        pane.input.insert_text_at_cursor(text.replace("\n", " ; "))
        await pane.input.action_submit()  # what Enter does (pilot.press would wait for an idle CPU)
        await wait_until(console_app.pilot, lambda: pane.idle and len(pane.results) > before, what="the console")
        return before, len(pane.results)

    errors_before = pane.console_text().count("  ✗ ")
    before, after = console_app.call(enter)
    assert app.is_running and app._exception is None
    shown = pane.results[before:after]
    parts = split_inputs(text.replace("\n", " ; "))
    assert len(shown) == max(1, len(parts))  # one entry per expression, or one "type an expression" line
    task = _tiny("decoder").task
    for part, r in zip(parts, shown, strict=False):
        assert not (r.error or "").startswith("internal error"), r.error  # a user's input never finds a bug
        try:
            parse_expression(part, task)
        except ExpressionError as exc:
            assert r.error == str(exc)  # the parser's own reason, with its column
        else:
            assert r.error is None and r.generation is not None, r.error  # a valid expression is answered
    n_errors = sum(r.error is not None for r in shown) + sum(r.error is None and not r.correct for r in shown)
    assert pane.console_text().count("  ✗ ") - errors_before == n_errors  # each shown as a ✗ line


# -- the shared model choice and the probes behind the pane, without an app -----------------------------------
def test_model_choice_names_its_source_and_the_live_session() -> None:
    from workbench.model_source import LIVE, CheckpointModelSource, ModelChoice, choice_options

    session = object()
    models = ModelChoice(get_session=lambda: session)  # type: ignore[arg-type, return-value]
    assert models.is_live and models.session() is session and isinstance(models.source(), SessionModelSource)
    assert models.pick("encoder-digits") == "ck:encoder-digits"  # a bare name means a checkpoint
    source = models.source()
    assert isinstance(source, CheckpointModelSource) and source.name == "encoder-digits"
    assert models.source() is source  # built once per choice (it caches the checkpoint it read)
    assert models.session() is None  # a checkpoint is never read through the live session
    assert models.pick(LIVE) == LIVE and models.session() is session
    assert choice_options([], "ck:mine") == [("live run", LIVE), ("mine", "ck:mine")]  # shown before listed


def test_answer_from_source_reports_no_model_and_bad_options_per_text() -> None:
    from workbench.probes import answer_from_source

    no_run = SessionModelSource(lambda: None)
    results = answer_from_source(no_run, ["Max(1, 2)", "Min(3, 4)"], ProbeOptions())
    assert [r.error for r in results] == [results[0].error] * 2 and "no training run yet" in (results[0].error or "")
    decoder = answer_from_source(_tiny("decoder"), ["Max(1, 2)"], None, "temperature must be a number")
    assert decoder[0].error == "temperature must be a number" and decoder[0].kind == "decoder"
    encoder = answer_from_source(_tiny("encoder"), ["Max(1, 2, 0)"], None, "temperature must be a number")
    assert encoder[0].error is None and encoder[0].truth == 2  # an encoder ignores the decoding options


async def test_console_lines_reflow_after_a_terminal_resize() -> None:
    app = InferenceHost()
    async with app.run_test(size=(220, 50)) as pilot:
        pane = app.pane
        pane.pick("encoder-digits")
        pane.run_expression("Max(3, 7, 2); Max(1, 2; " + "Min(4, 5, 6); " * 3)
        await wait_until(pilot, lambda: pane.idle and len(pane.results) >= 5)
        await pilot.pause()
        wide = max(len(line.rstrip()) for line in pane.console_text().splitlines())
        await pilot.resize_terminal(112, 40)
        await pilot.pause()
        await pilot.pause()
        width = pane.console.scrollable_content_region.width
        lines = [line.rstrip() for line in pane.console_text().splitlines()]
        assert wide > width  # the wide layout had longer lines than fit now
        assert max(len(line) for line in lines) <= width  # rewrapped for the narrow console
        assert sum("✗" in line for line in lines) >= 1 and any("Min(4, 5, 6)" in line for line in lines)


async def test_the_attention_map_names_each_heads_role() -> None:
    """The Lab's caption of a head (from its attention on held-out data and its circuits) shows with its map."""
    app = InferenceHost()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.pane
        pane.pick("encoder-digits")
        await submit(pilot, pane, "Max(3, 7, 2)")
        app.query_one("#inf-head", Select).value = 0
        await pilot.pause()
        text = " ".join(app.query_one("#inf-attention", AttentionMap).build().plain.split())  # unwrapped
        assert "role (Lab, on held-out data): attends to the argument holding the answer" in text
        assert "Max looks for large digits" in text  # head 0.0's QK circuit


async def test_the_input_hint_follows_the_task_of_the_model_that_answered() -> None:
    """It always said Max(3, 7, 2), which a Sum mod 23 model refuses."""
    from core.data.dataset import DatasetConfig
    from core.train.run import RunConfig

    task = TaskConfig(("Sum",), 22, 2, 2)
    run = Run(RunConfig.create(DatasetConfig(task, n_train=100, n_val=20, n_test=20), d_model=16, n_layers=1,
                               n_heads=2, d_ff=32))
    app = InferenceHost(FixedModelSource(run.model, task, "sum mod 23"))
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.pane
        assert pane.input.placeholder.startswith("Max(3, 7, 2) ⏎")
        pane.pick("live")
        await submit(pilot, pane, "Max(3, 7, 2)")
        assert "e.g. Sum(3, 7)" in str(pane.results[-1].error)
        assert pane.input.placeholder.startswith("Sum(3, 7) ⏎")
