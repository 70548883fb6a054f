"""The Inference pane as a newcomer meets it (issue 12), at 80×24 and 160×50: a sample shows the tempered
distribution it was drawn from and each expression of a batch draws its own; the attention map names the
sequence it is of, explains its cells and cuts neither its caption nor its tokens; a parse error gets a
caret; after a resize the console still shows the latest answer."""

from __future__ import annotations

import pytest

from tests.probe_app_support import InferenceHost, submit, wait_until
from workbench.widgets.attention_map import AttentionMap


@pytest.fixture(autouse=True)
def real_models_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests read the shipped models in saved_models/."""
    monkeypatch.delenv("LLMLEARN_MODELS", raising=False)


async def test_a_sample_shows_its_tempered_distribution_and_each_expression_draws_its_own() -> None:
    app = InferenceHost()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.pane
        pane.pick("decoder-0-99")
        pane.set_strategy("sample", temperature=50.0)
        await submit(pilot, pane, "Max(31, 7, 52); Max(31, 7, 52)")
        first, second = pane.results[-2:]
        assert first.generation is not None and second.generation is not None
        assert first.generation.tokens != second.generation.tokens  # two draws, not one sample twice
        q = first.generation.drawn_steps[0]
        assert q != first.generation.steps[0] and q[0][1] < 0.2  # T 50: flat, unlike the model's ~100%
        console = pane.console_text()
        assert console.count("first token drawn from softmax(log p / T), T 50:") == 2
        amap = pane.query_one(AttentionMap)
        assert amap.tokens == [*second.generation.prompt, *second.generation.tokens]  # the sample's own map
        assert "the sampled sequence: " + " ".join(second.generation.tokens) in amap.build().plain.splitlines()[0]


async def test_the_attention_map_names_the_beam_sequence_and_cuts_nothing_at_160_columns() -> None:
    app = InferenceHost()
    async with app.run_test(size=(160, 50)) as pilot:
        pane = app.pane
        pane.pick("decoder-0-99")
        pane.set_strategy("beam", beam_width=3)
        await submit(pilot, pane, "Second(31, 7, 52, 12)")
        amap = pane.query_one(AttentionMap)
        lines = amap.build().plain.splitlines()
        r = pane.results[-1]
        assert r.generation is not None
        assert lines[0] == "layer 0 (0–2) · mean of heads · the beam search sequence: " + " ".join(r.generation.tokens)
        assert all(len(line.rstrip()) <= amap.size.width for line in lines)  # nothing cut at the edge
        assert "** = 100% · blank = under 0.5%" in " · ".join(lines[1:4])  # the legend explains the cells
        # every token whole: "Second" as a column label (top to bottom when the cells are narrow)
        header = lines[3:lines.index(next(line for line in lines if line.strip().startswith("Second")))]
        column = next(i for i, ch in enumerate(header[0]) if ch == "S")
        assert "".join(line[column] for line in header[:6]) == "Second"
        assert amap.size.height == len(lines)  # the widget is as tall as its text


async def test_a_parse_error_gets_a_caret_and_a_resize_keeps_the_latest_answer_in_view() -> None:
    app = InferenceHost()
    async with app.run_test(size=(160, 50)) as pilot:
        pane = app.pane
        pane.pick("encoder-digits")
        await submit(pilot, pane, "; ".join(["Max(3, 7, 2)"] * 8 + ["Max(3 7"]))
        lines = pane.console_text().splitlines()
        at = next(i for i, line in enumerate(lines) if line.strip() == "› Max(3 7")
        assert lines[at + 1].index("^") == lines[at].index("7")  # under the column the error names
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await wait_until(pilot, lambda: pane.console.is_vertical_scroll_end and pane.console.max_scroll_y > 0,
                         what="the console scrolled to its end after the reflow")
