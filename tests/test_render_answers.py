"""The inference console's text, from hand-built results: the entry (answer, ✓/✗, probability bars),
the token-by-token generation, the logit-lens table and the detail title."""

from __future__ import annotations

import math

import numpy as np

from core.probe.answers import ProbeOptions, ProbeResult
from core.probe.generation import GenerationResult, Hypothesis
from core.probe.inference import Prediction
from core.probe.logit_lens import LogitLensResult
from workbench.render.answers import (
    DETAIL_PLACEHOLDER,
    attention_sequence,
    detail_title,
    entry_text,
    generation_text,
    lens_text,
    pct,
    read_position,
)


def encoder_result(answer: int = 7, truth: int = 7) -> ProbeResult:
    prediction = Prediction(text="Max(3, 7)", answer=answer, truth=truth, top=[(answer, 0.75), (3, 0.25)],
                            tokens=["Max", "(", "3", ",", "7", ")"], attention=[np.zeros((1, 6, 6))])
    return ProbeResult(text="Max(3, 7)", kind="encoder", prediction=prediction, label="tiny")


def decoder_result() -> ProbeResult:
    prediction = Prediction(text="Max(31, 95)", answer=95, truth=95, tokens=["Max", "(", "31", "=", "9", "5"])
    generation = GenerationResult(text="Max(31, 95)", strategy="beam", truth=95, tokens=["9", "5", "[EOS]"],
                                  answer=95, log_prob=math.log(0.5), token_probs=[0.8, 0.9, 1.0],
                                  steps=[[("9", 0.8), ("3", 0.2)], [("5", 0.9)], [("[EOS]", 1.0)]],
                                  beams=[Hypothesis(["9", "5", "[EOS]"], math.log(0.5), True, 95),
                                         Hypothesis(["3", "1", "[EOS]"], math.log(0.25), True, 31, source="greedy")])
    return ProbeResult(text="Max(31, 95)", kind="decoder", prediction=prediction, generation=generation,
                       label="tiny decoder")


def test_an_error_entry_is_the_input_and_one_red_line() -> None:
    text = entry_text(ProbeResult(text="Max(1, 2", error="missing ')'"))
    assert text.plain == "› Max(1, 2\n  ✗ missing ')'"
    assert any(span.style == "red" for span in text.spans)


def test_a_long_input_is_cut_with_an_ellipsis() -> None:
    first = entry_text(ProbeResult(text="x" * 200, error="e")).plain.splitlines()[0]
    assert first == "› " + "x" * 117 + "…"


def test_an_encoder_entry_shows_the_answer_and_a_bar_per_candidate() -> None:
    lines = entry_text(encoder_result()).plain.splitlines()
    assert lines[1] == "  ✓ 7   true answer 7"
    assert lines[2] == f"       7 {'█' * 15}{' ' * 5}  75.0%"  # 0.75 of 20 cells
    assert lines[3] == f"       3 {'█' * 5}{' ' * 15}  25.0%"
    wrong = entry_text(encoder_result(answer=3, truth=7)).plain.splitlines()
    assert wrong[1] == "  ✗ 3   true answer 7"


def test_a_beam_entry_lists_tokens_and_the_hypotheses() -> None:
    lines = entry_text(decoder_result()).plain.splitlines()
    assert lines[1] == "  ✓ 95   true answer 95 · beam search"
    assert lines[2] == "    tokens 9 80%  5 90%  [EOS] 100%  P(seq) 50.0%"
    assert lines[3] == f"      95 {'█' * 10}{' ' * 10}  50.0%  9 5 [EOS]"
    assert lines[4] == f"      31 {'█' * 5}{' ' * 15}  25.0%  3 1 [EOS]"


def test_generation_text_is_one_line_per_step_then_the_hypotheses() -> None:
    lines = generation_text(decoder_result()).plain.splitlines()
    assert lines[0] == "beam · P(sequence) 50.000% · log P -0.6931"
    assert lines[1] == "step 1 ▸ 9      9 80.0% · 3 20.0%"
    assert lines[3] == "step 3 ▸ [EOS]  [EOS] 100.0%"
    assert lines[4] == "hypotheses, best first"
    assert lines[6].split()[:4] == ["31", "3", "1", "[EOS]"] and lines[6].endswith("finished (via greedy)")
    assert "no token-by-token generation" in generation_text(encoder_result()).plain


def test_lens_text_marks_the_target_in_each_layer() -> None:
    lens = LogitLensResult(text="Max(3, 7)", truth=7, kind="encoder", tokens=["Max", "(", "3", ",", "7", ")"],
                           position=0, layer_names=["embed", "block 1"],
                           layers=[[(3, 0.5), (7, 0.25), (1, 0.125)], [(7, 1.0)]])
    lines = lens_text(lens, 7).plain.splitlines()
    assert lines[0] == "read at position 0 (Max); target 7"
    assert lines[1] == f"embed          3 {'█' * 6}{' ' * 6}  50.0%  7 25%  1 12%"
    assert lines[2].startswith(f"block 1        7 {'█' * 12}") and "100.0%" in lines[2]
    assert lens_text(None, 7).plain == "no logit lens"
    assert lens_text(LogitLensResult(text="x", error="too long"), None).plain == "✗ too long"


def test_a_decoder_lens_targets_the_first_answer_token() -> None:
    lens = LogitLensResult(text="t", truth=95, kind="decoder", tokens=["=", "9"], position=0,
                           layer_names=["embed"], layers=[[("9", 0.5)]])
    assert lens_text(lens, 95).plain.splitlines()[0] == "read at position 0 (=); target 9"


def test_detail_title_and_where_the_answer_is_read() -> None:
    assert detail_title(None).plain == DETAIL_PLACEHOLDER
    assert detail_title(encoder_result()).plain == "Max(3, 7) = 7  model: 7  · tiny"
    assert read_position(encoder_result())[0] == 0
    row, note = read_position(decoder_result())
    assert row == 3 and note == "▶ '=': where the first answer token is predicted"


def test_the_attention_caption_names_the_sequence_it_is_of() -> None:
    beam = decoder_result()
    beam.attention_of = "beam"  # answer_texts made the map the beam search sequence's
    assert attention_sequence(beam) == "the beam search sequence: 9 5"
    sampled = decoder_result()
    sampled.attention_of = "sample"
    assert attention_sequence(sampled) == "the sampled sequence: 9 5"
    assert attention_sequence(decoder_result()) == "the greedy sequence: 9 5"  # never "beam" for a greedy map
    assert attention_sequence(encoder_result()) == "the input"


def test_a_sample_shows_the_tempered_distribution_it_was_drawn_from() -> None:
    r = decoder_result()
    g = r.generation
    assert g is not None
    g.strategy, g.beams, g.temperature, g.top_k = "sample", [], 2.0, 3
    g.drawn_steps = [[("9", 0.6), ("3", 0.4)], [("5", 0.7)], [("[EOS]", 0.9)]]
    entry = entry_text(r).plain.splitlines()
    assert entry[2].startswith("    tokens (model p) 9 80%")  # the model's own p, said so
    assert "first token drawn from softmax(log p / T), T 2, top-3 only:" in entry[3]
    assert entry[4].split()[0] == "9" and entry[4].endswith(" 60.0%")  # q, not the model's 80%
    detail = generation_text(r).plain.splitlines()
    assert "under the model (T 1)" in detail[0]
    assert detail[1] == "each token drawn from softmax(log p / T), T 2, top-3 only: the candidates below"
    assert detail[2].startswith("step 1 ▸ 9") and "9 60.0% · 3 40.0%" in detail[2]
    g.drawn_probs = [0.6, 0.7, 0.9]
    assert generation_text(r).plain.splitlines()[2].startswith("step 1 ▸ 9     (drawn at 60.0%)")


def test_pct_handles_tiny_and_non_finite_probabilities() -> None:
    assert pct(0.5) == " 50.0%"
    assert pct(0.0) == "  0.0%"
    assert pct(0.0001) == " 0.01%" and pct(0.0004) == " 0.04%" and pct(0.00004) == "<0.01%"  # never e-notation
    assert all(pct(p).endswith("%") and len(pct(p)) == 6 for p in (1.0, 0.5, 0.001, 0.0009, 1e-9, 0.0))
    assert pct(float("nan")) == "  –  "


def test_a_parse_error_puts_a_caret_under_the_column_it_names() -> None:
    from core.probe.answers import answer_texts
    from core.train.checkpoint import read_checkpoint

    ck = read_checkpoint("encoder-digits")
    (r,) = answer_texts(ck.build_model(), ck.config.dataset.task, ["Max(3, 7"], ProbeOptions("greedy", 1.0, 0, 3))
    lines = entry_text(r).plain.splitlines()
    assert lines[0] == "› Max(3, 7" and "column 9" in lines[2]
    assert lines[1] == "  " + " " * 8 + "^"  # under column 9, the input's end: the missing ')'
