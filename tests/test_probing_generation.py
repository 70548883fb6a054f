"""Decoding strategies: greedy, sampling and beam search on the decoder (core.probe.generation)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.data.task import TaskConfig
from core.data.vocab import VOCAB
from core.errors import ConfigError
from core.nn.config import ModelConfig
from core.nn.models import TransformerDecoder, build_model
from core.probe.generation import beam_search, generate_answer, greedy, sample
from core.train.run import Run
from tests.probing_helpers import one_blas_thread, trained_run

__all__ = ["one_blas_thread"]

EOS = VOCAB.eos_id


@pytest.fixture(scope="module")
def run() -> Run:
    return trained_run("decoder", steps=100)


def _texts(run: Run, n: int = 24) -> list[str]:
    return run.val_split.texts[:n]  # type: ignore[union-attr]


# -- a fake model with hand-made next-token distributions -------------------------------------------------
def _tok(t: str) -> int:
    return VOCAB.id_of(t)


def _fake_decoder(table: dict[tuple[str, ...], dict[str, float]], calls: list[tuple[int, int]] | None = None
                  ) -> TransformerDecoder:
    """A real decoder whose ``forward`` returns log(P) of ``table[generated suffix]`` at the last
    position (unlisted tokens share what is left; unlisted suffixes are uniform)."""
    model = build_model(ModelConfig(kind="decoder", vocab_size=len(VOCAB), num_classes=10, d_model=8, n_layers=1,
                                    n_heads=2, d_ff=8, max_len=32))
    assert isinstance(model, TransformerDecoder)
    v = len(VOCAB)

    def forward(tokens: np.ndarray, pad_mask: np.ndarray | None = None) -> np.ndarray:
        if calls is not None:
            calls.append(tokens.shape)
        out = np.zeros((*tokens.shape, v), dtype=np.float32)
        for r, row in enumerate(tokens.tolist()):
            suffix = tuple(VOCAB.decode(row[row.index(VOCAB.sep_id) + 1:]))
            listed = table.get(suffix, {})
            rest = (1.0 - sum(listed.values())) / (v - len(listed))
            p = np.full(v, rest)
            for t, q in listed.items():
                p[_tok(t)] = q
            out[r, -1] = np.log(np.maximum(p, 1e-30))  # a listed total of 1 leaves the rest at 0
        return out

    model.forward = forward  # type: ignore[method-assign]
    return model


PROMPT = [*VOCAB.encode(["Max", "(", "1", ",", "2", ")"]), VOCAB.sep_id]

# Greedy takes "1" (0.5) then [EOS] (0.3): P = 0.15. "2" (0.4) then [EOS] (0.9) has P = 0.36.
GREEDY_TRAP = {
    (): {"1": 0.5, "2": 0.4},
    ("1",): {"[EOS]": 0.3},
    ("2",): {"[EOS]": 0.9},
}


def test_beam_search_finds_the_sequence_greedy_misses() -> None:
    model = _fake_decoder(GREEDY_TRAP)
    g = greedy(model, PROMPT, 3)
    assert g.tokens == ["1", "[EOS]"] and g.probability == pytest.approx(0.15, rel=1e-5)
    for keep in (True, False):
        b = beam_search(model, PROMPT, beam_width=2, max_new_tokens=3, keep_greedy=keep)
        assert b.tokens == ["2", "[EOS]"] and b.answer == 2 and b.finished
        assert b.probability == pytest.approx(0.36, rel=1e-5)
        assert b.token_probs == pytest.approx([0.4, 0.9], rel=1e-5)
        assert b.beams[0].tokens == ["2", "[EOS]"]
        assert ["1", "[EOS]"] in [h.tokens for h in b.beams]


def test_plain_beam_search_can_lose_the_greedy_path_and_keep_greedy_recovers_it() -> None:
    # Greedy: "1" (0.46) then [EOS] (0.4) → 0.184. Two continuations of "2" (0.44·0.5 = 0.22 each)
    # push it out of a width-2 beam, and both then end with P ≈ 0.022.
    table = {
        (): {"1": 0.46, "2": 0.44},
        ("1",): {"[EOS]": 0.4},
        ("2",): {"3": 0.5, "4": 0.5},
        ("2", "3"): {"[EOS]": 0.1},
        ("2", "4"): {"[EOS]": 0.1},
    }
    model = _fake_decoder(table)
    g = greedy(model, PROMPT, 3)
    plain = beam_search(model, PROMPT, beam_width=2, max_new_tokens=3, keep_greedy=False)
    assert plain.log_prob < g.log_prob  # the textbook algorithm's known weakness
    assert plain.probability == pytest.approx(0.022, rel=1e-4)
    kept = beam_search(model, PROMPT, beam_width=2, max_new_tokens=3)
    assert kept.tokens == g.tokens and kept.log_prob == pytest.approx(g.log_prob, abs=1e-6)
    assert kept.beams[0].source == "greedy"


def test_beam_search_batches_its_beams_into_one_forward_per_step() -> None:
    calls: list[tuple[int, int]] = []
    table = {(): {"1": 0.3, "2": 0.3, "3": 0.3}, ("1",): {"4": 0.9}, ("2",): {"5": 0.9}, ("3",): {"6": 0.9}}
    model = _fake_decoder(table, calls)
    beam_search(model, PROMPT, beam_width=3, max_new_tokens=3, keep_greedy=False)
    assert [c[0] for c in calls] == [1, 3, 3]  # rows = live beams; one call per step
    assert [c[1] for c in calls] == [len(PROMPT), len(PROMPT) + 1, len(PROMPT) + 2]
    calls.clear()
    beam_search(model, PROMPT, beam_width=3, max_new_tokens=3)
    assert len(calls) == 3 and [c[0] for c in calls] == [2, 4, 4]  # + the greedy row


def test_greedy_equals_model_generate(run: Run) -> None:
    task = run.config.dataset.task
    for seed, model in ((0, run.clone_model()), (1, build_model(run.config.model, seed=5))):
        assert isinstance(model, TransformerDecoder)
        for text in _texts(run, 16 if seed == 0 else 8):
            ours = generate_answer(model, task, text)
            assert ours.expression is not None
            prompt = np.asarray([model.prompt_ids(ours.expression)])
            ref = model.generate(prompt, np.array([prompt.shape[1]]), task.max_answer_tokens + 1, EOS, VOCAB.pad_id)
            n = len(ours.token_ids)
            assert ref.tokens[0, :n].tolist() == ours.token_ids, text
            assert ours.finished or n == task.max_answer_tokens + 1
            ref_p = [float(ref.probs[0, s, t]) for s, t in enumerate(ours.token_ids)]
            assert ours.token_probs == pytest.approx(ref_p, rel=1e-4, abs=1e-6)
            assert ours.log_prob == pytest.approx(sum(map(math.log, ours.token_probs)), abs=1e-9)
            assert ours.steps[0][0][0] == ours.tokens[0]  # the chosen token leads each step's list


def test_beam_width_one_is_greedy(run: Run) -> None:
    model, task = run.clone_model(), run.config.dataset.task
    for text in _texts(run):
        g = generate_answer(model, task, text)
        b = generate_answer(model, task, text, "beam", beam_width=1, keep_greedy=False)
        assert (b.tokens, b.log_prob, b.steps, b.token_probs) == (g.tokens, g.log_prob, g.steps, g.token_probs)
        kept = generate_answer(model, task, text, "beam", beam_width=1)  # a 2-row batch: float32 rounding
        assert kept.tokens == g.tokens and kept.log_prob == pytest.approx(g.log_prob, abs=1e-5)


@pytest.mark.parametrize("width", [2, 3, 5])
def test_beam_search_is_never_worse_than_greedy(run: Run, width: int) -> None:
    model, task = run.clone_model(), run.config.dataset.task
    better = 0
    for text in _texts(run):
        g = generate_answer(model, task, text)
        b = generate_answer(model, task, text, "beam", beam_width=width)
        if g.finished:
            assert b.finished
            assert b.log_prob >= g.log_prob - 1e-5, text  # 1e-5: batch-size-dependent float32 rounding
        better += b.log_prob > g.log_prob + 1e-5
        logps = [h.log_prob for h in b.beams if h.finished]
        assert logps == sorted(logps, reverse=True) and b.log_prob == pytest.approx(logps[0], abs=0)
        assert all(h.tokens[-1] == "[EOS]" for h in b.beams if h.finished)
    assert better > 0  # on this undertrained model the beam does find better sequences


def test_sampling_is_reproducible_from_its_seed(run: Run) -> None:
    model, task = run.clone_model(), run.config.dataset.task
    text = _texts(run)[0]
    a = generate_answer(model, task, text, "sample", temperature=1.5, seed=7)
    b = generate_answer(model, task, text, "sample", temperature=1.5, seed=7)
    assert (a.tokens, a.log_prob, a.steps) == (b.tokens, b.log_prob, b.steps)
    draws = {tuple(generate_answer(model, task, text, "sample", temperature=1.5, seed=s).tokens) for s in range(12)}
    assert len(draws) > 1


def test_low_temperature_approaches_greedy(run: Run) -> None:
    model, task = run.clone_model(), run.config.dataset.task
    for text in _texts(run, 12):
        g = generate_answer(model, task, text)
        assert generate_answer(model, task, text, "sample", temperature=0.0).tokens == g.tokens
        for seed in range(3):
            s = generate_answer(model, task, text, "sample", temperature=1e-3, seed=seed)
            assert s.tokens == g.tokens and s.log_prob == pytest.approx(g.log_prob, abs=1e-9)
        assert generate_answer(model, task, text, "sample", top_k=1, seed=3).tokens == g.tokens
    # Close probabilities (0.5 vs 0.4): τ = 0.02 scales their odds to 0.8⁵⁰ ≈ 1e-5.
    fake = _fake_decoder(GREEDY_TRAP)
    assert all(sample(fake, PROMPT, 3, temperature=0.02, seed=s).tokens[0] == "1" for s in range(20))


def test_sampling_follows_the_model_distribution_at_temperature_one() -> None:
    fake = _fake_decoder({(): {"1": 0.5, "2": 0.3, "3": 0.2}})
    firsts = [sample(fake, PROMPT, 1, seed=s).tokens[0] for s in range(400)]
    freq = {t: firsts.count(t) / len(firsts) for t in ("1", "2", "3")}
    assert freq["1"] == pytest.approx(0.5, abs=0.08) and freq["2"] == pytest.approx(0.3, abs=0.08)
    assert set(firsts) == {"1", "2", "3"}  # the other 18 tokens have zero mass
    top2 = {sample(fake, PROMPT, 1, temperature=3.0, top_k=2, seed=s).tokens[0] for s in range(60)}
    assert top2 == {"1", "2"}


def test_generation_leaves_the_model_as_it_was(run: Run) -> None:
    model, task = run.clone_model(), run.config.dataset.task
    model.train()
    before = model.params.data.copy()
    for strategy in ("greedy", "sample", "beam"):
        generate_answer(model, task, _texts(run)[0], strategy)  # type: ignore[arg-type]
        assert model.training
    assert np.array_equal(model.params.data, before)


def test_bad_input_is_returned_and_bad_options_raise(run: Run) -> None:
    model, task = run.clone_model(), run.config.dataset.task
    r = generate_answer(model, task, "Max(3, 4")
    assert r.error and "')'" in r.error and r.tokens == [] and r.answer is None and not r.correct
    for kwargs in ({"strategy": "nucleus"}, {"strategy": "sample", "temperature": -1.0},
                   {"strategy": "sample", "temperature": math.inf}, {"strategy": "sample", "top_k": -2},
                   {"strategy": "beam", "beam_width": 0}):
        with pytest.raises(ConfigError):
            generate_answer(model, task, "Max(3, 4)", **kwargs)  # type: ignore[arg-type]
    encoder = build_model(ModelConfig())
    with pytest.raises(TypeError):
        generate_answer(encoder, TaskConfig(), "Max(3, 4, 5)")
    short = build_model(ModelConfig(kind="decoder", vocab_size=len(VOCAB), max_len=10, d_model=8, n_heads=2, d_ff=8))
    long_ = generate_answer(short, task, "Max(31, 42, 53)")
    assert long_.error == "expression is too long for this model" and long_.truth == 53


@pytest.mark.parametrize("name", ["greedy", "sample", "beam"])
def test_every_strategy_reports_a_consistent_token_by_token_view(run: Run, name: str) -> None:
    model, task = run.clone_model(), run.config.dataset.task
    for text in _texts(run, 8):
        r = generate_answer(model, task, text, name, n_candidates=3)
        assert r.strategy == name and r.text == text and r.prompt[-1] == "="
        assert len(r.steps) == len(r.tokens) == len(r.token_probs) == len(r.token_ids)
        assert all(len(s) == 3 and s == sorted(s, key=lambda c: -c[1]) for s in r.steps)
        assert r.log_prob == pytest.approx(sum(map(math.log, r.token_probs)), abs=1e-9)
        if r.finished and all(t.isdigit() for t in r.tokens[:-1]) and len(r.tokens) > 1:
            assert r.answer == int("".join(r.tokens[:-1]))
            assert r.correct == (r.answer == r.truth)


def test_the_same_expression_twice_in_one_batch_gets_its_own_sample() -> None:
    from core.probe.answers import ProbeOptions, answer_texts, draw_seed
    from core.train.checkpoint import read_checkpoint

    ck = read_checkpoint("decoder-0-99")
    model = ck.build_model()
    options = ProbeOptions("sample", 8.0, 0, 3, seed=1)  # a hot temperature: draws differ
    results = answer_texts(model, ck.config.dataset.task, ["Max(31, 7, 52)"] * 6, options)
    draws = [tuple(r.generation.tokens) for r in results if r.generation is not None]
    assert len(draws) == 6 and len(set(draws)) > 1
    again = answer_texts(model, ck.config.dataset.task, ["Max(31, 7, 52)"] * 6, options)
    assert draws == [tuple(r.generation.tokens) for r in again if r.generation is not None]  # reproducible
    assert draw_seed(1, 0) != draw_seed(1, 1) and draw_seed(1, 0) == draw_seed(1, 0)


def test_a_sample_records_the_tempered_distribution_it_was_drawn_from() -> None:
    fake = _fake_decoder({(): {"1": 0.5, "2": 0.3, "3": 0.2}})
    cold = sample(fake, PROMPT, 1, temperature=1.0, seed=0)
    hot = sample(fake, PROMPT, 1, temperature=4.0, seed=0)
    assert dict(cold.drawn_steps[0][:3]) == pytest.approx({"1": 0.5, "2": 0.3, "3": 0.2}, abs=1e-6)  # T 1: p
    q = np.array([0.5, 0.3, 0.2] + [0.0] * 18) ** (1 / 4)  # T 4: p^(1/T), renormalised — visibly flatter
    assert hot.drawn_steps[0][0][1] == pytest.approx(q[0] / q.sum(), abs=1e-6)
    assert hot.steps == cold.steps  # the model's own distribution is still there, unchanged
    assert hot.drawn_probs[0] == pytest.approx(dict(hot.drawn_steps[0])[hot.tokens[0]], abs=1e-9)
    top2 = sample(fake, PROMPT, 1, temperature=1.0, top_k=2, seed=0)
    assert dict(top2.drawn_steps[0][:2]) == pytest.approx({"1": 0.625, "2": 0.375}, abs=1e-6)  # top-k renormalised
    zero = sample(fake, PROMPT, 1, temperature=0.0, seed=0)
    assert zero.drawn_steps[0][0] == ("1", 1.0) and (zero.temperature, hot.temperature) == (0.0, 4.0)


def test_under_beam_search_the_attention_is_of_the_sequence_shown() -> None:
    from core.probe.answers import ProbeOptions, answer_texts
    from core.train.checkpoint import read_checkpoint

    ck = read_checkpoint("decoder-0-99")
    model = ck.build_model()
    for strategy in ("greedy", "beam", "sample"):
        (r,) = answer_texts(model, ck.config.dataset.task, ["Max(31, 7, 52)"],
                            ProbeOptions(strategy, 8.0, 0, 3, seed=3), details=False)
        assert r.generation is not None and r.prediction is not None and r.attention_of == strategy
        shown = [*r.generation.prompt, *r.generation.tokens]
        assert r.prediction.tokens == shown  # the map's tokens are the sequence the console shows
        assert all(m.shape[-1] == len(shown) for m in r.prediction.attention)
    # a hot sample that differs from the greedy answer: the map follows the sample, not the greedy one
    greedy_tokens = answer_texts(model, ck.config.dataset.task, ["Max(31, 7, 52)"], ProbeOptions(),
                                 details=False)[0].prediction.tokens  # type: ignore[union-attr]
    for seed in range(40):
        (r,) = answer_texts(model, ck.config.dataset.task, ["Max(31, 7, 52)"],
                            ProbeOptions("sample", 50.0, 0, 3, seed=seed), details=False)
        assert r.generation is not None and r.prediction is not None
        if r.generation.tokens != greedy_tokens[len(r.generation.prompt):]:
            assert r.prediction.tokens == [*r.generation.prompt, *r.generation.tokens] != greedy_tokens
            break
    else:
        raise AssertionError("no sample differed from the greedy answer")
