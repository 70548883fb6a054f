"""The lessons of the Learn pane: every file parses, every live cell and exercise runs on real models (the two
shipped ones and fresh tiny runs of both kinds), every code reference resolves, and progress is remembered."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest

from core.data.expression import parse_expression
from core.errors import ConfigError, ExpressionError
from core.nn.models.factory import Model
from core.probe.answer_parsing import parse_choice, parse_head, parse_number, parse_yes_no
from core.probe.exercises import CHECKS, ExerciseContext, check_exercise, head_max_attention
from core.probe.lesson_cells import CELL_KINDS, compute_cell
from core.probe.trace import trace_forward
from core.train.checkpoint import read_checkpoint
from core.train.run import Run
from tests.conftest import tiny_config
from workbench.learn_progress import LearnProgress, progress_path
from workbench.lessons import CodeRef, Exercise, LessonError, LiveCell, load_lessons, parse_lesson, resolve_code_ref

ROOT = Path(__file__).resolve().parent.parent
LESSONS = load_lessons()
ANSWERS = {"number": "2.3", "yesno": "yes", "head": "0.0", "choice": "a"}


@pytest.fixture(scope="module")
def contexts() -> dict[str, ExerciseContext]:
    out = {}
    for name in ("encoder-digits", "decoder-0-99"):
        ckpt = read_checkpoint(name)
        out[name] = ExerciseContext(ckpt.build_model(), ckpt.config.dataset.task, ckpt.config)
    for kind in ("encoder", "decoder"):
        run = Run(tiny_config(kind))
        out[f"fresh-{kind}"] = ExerciseContext(run.model, run.config.dataset.task, run.config)
    return out


MODELS = ("encoder-digits", "decoder-0-99", "fresh-encoder", "fresh-decoder")


# -- the lesson files -----------------------------------------------------------------------------------
def test_there_are_at_least_twelve_lessons_numbered_in_order() -> None:
    assert len(LESSONS) >= 12
    assert [lesson.number for lesson in LESSONS] == list(range(1, len(LESSONS) + 1))
    assert len({lesson.title for lesson in LESSONS}) == len(LESSONS)


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.key)
def test_every_lesson_has_text_cells_and_exercises_of_a_readable_length(lesson) -> None:  # type: ignore[no-untyped-def]
    n_lines = len(lesson.path.read_text(encoding="utf-8").splitlines())
    assert 80 <= n_lines <= 200, n_lines
    assert lesson.exercises and lesson.cells
    assert all(isinstance(p, LiveCell | Exercise) or p.text.strip() for p in lesson.parts)
    for ex in lesson.exercises:
        assert ex.answer_kind == CHECKS[ex.check].answer_kind and ex.question


def test_every_code_reference_resolves() -> None:
    refs = [(lesson.key, ref) for lesson in LESSONS for ref in lesson.code_refs]
    assert len(refs) >= 25
    for key, ref in refs:
        assert resolve_code_ref(ref) > 0, (key, ref)
    assert resolve_code_ref(CodeRef("core/nn/layers/attention.py", "MultiHeadSelfAttention.backward", 1)) > 0
    for bad in (CodeRef("core/nn/layers/attention.py", "no_such_function", 3),
                CodeRef("core/nn/layers/attention.py", "MultiHeadSelfAttention.sideways", 3),
                CodeRef("core/nn/nowhere.py", "attention_bias", 3)):
        with pytest.raises(LessonError):
            resolve_code_ref(bad)


def test_the_lessons_are_package_data() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "lessons/*.md" in data["tool"]["setuptools"]["package-data"]["workbench"]


@pytest.mark.parametrize(("text", "line", "words"), [
    ("no title\n", 1, "title"),
    ("# T\n\n```live\ncell: nonsense\n```\n", 3, "unknown cell kind"),
    ("# T\n\n```live\ncell: attention_qk\nlayer: 0\nheed: 1\n```\n", 6, "no parameter 'heed'"),
    ("# T\n\n```live\ncell: attention_qk\nlayer: zero\n```\n", 5, "layer must be a whole number"),
    ("# T\ntext\n```live\ncell: tokens\n", 3, "never closed"),
    ("# T\n```exercise\nid: a\ncheck: fresh_loss\nquestion: q?\nanswer: yesno\n```\n", 6, "takes a number answer"),
    ("# T\n```exercise\nid: a\ncheck: nope\nquestion: q?\nanswer: number\n```\n", 4, "unknown check"),
    ("# T\n```exercise\nid: a\ncheck: fresh_loss\nanswer: number\n```\n", 2, "needs 'question:'"),
    ("# T\n```exercise\nid: a\ncheck: choice\nquestion: q?\nanswer: choice\noptions: x | y\ncorrect: z\n```\n", 2,
     "correct must be one of"),
    ("# T\n```exercise\nid: a\ncheck: vocab_size\nquestion: q\nanswer: number\n```\n"
     "```exercise\nid: a\ncheck: vocab_size\nquestion: q\nanswer: number\n```\n", 8, "used twice"),
    ("# T\n```live\ncell: tokens\ncell: tokens\n```\n", 4, "given twice"),
    ("# T\n```live\njust words\n```\n", 3, "key: value"),
])
def test_a_bad_lesson_file_is_one_error_naming_file_and_line(text: str, line: int, words: str) -> None:
    with pytest.raises(LessonError) as err:
        parse_lesson(Path("05-broken.md"), text)
    message = str(err.value)
    assert message.startswith(f"05-broken.md:{line}: ") and words in message and "\n" not in message
    assert isinstance(err.value, ConfigError) and err.value.line == line


def test_a_lesson_file_must_be_named_nn_slug(tmp_path: Path) -> None:
    (tmp_path / "intro.md").write_text("# Intro\n", encoding="utf-8")
    with pytest.raises(LessonError, match="NN-slug"):
        load_lessons(tmp_path)


# -- live cells ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", MODELS)
def test_every_live_cell_of_every_lesson_computes_on_every_model(contexts, name: str) -> None:  # type: ignore[no-untyped-def]
    ctx = contexts[name]
    for lesson in LESSONS:
        for cell in lesson.cells:
            res = compute_cell(cell.kind, ctx.model, cell.expression, ctx.task, **cell.params)
            text = res.text()
            assert res.title and res.caption and all(len(line) <= 80 for line in text.splitlines()), (lesson.key, cell)
            if res.applies:
                assert res.tables and all(np.isfinite(t.values[~np.isinf(t.values) & ~np.isnan(t.values)]).all()
                                          for t in res.tables)
                assert all(view in ("inference", "attention", "logit_lens", "generation", "inspector", "embeddings",
                                    "gradient_check", "evaluation", "training", "dataset") for view, _ in res.actions)
                for view, args in res.actions:
                    if view == "inspector":
                        assert args["param"] in ctx.model.params.names()
            else:
                assert res.caption.startswith("Not for this model")


def test_every_cell_kind_computes_on_both_shipped_models(contexts) -> None:  # type: ignore[no-untyped-def]
    for name in ("encoder-digits", "decoder-0-99"):
        ctx = contexts[name]
        for kind in CELL_KINDS:
            if kind != "lr_sweep":  # the slow one; the lessons run it
                assert compute_cell(kind, ctx.model, "Max(3, 7, 2)", ctx.task).title
    enc = contexts["encoder-digits"]
    assert not compute_cell("generation", enc.model, "Max(3, 7, 2)", enc.task).applies
    assert not compute_cell("teacher_forcing", enc.model, "Max(3, 7, 2)", enc.task).applies
    assert not compute_cell("attention_qk", enc.model, "Max(3, 7, 2)", enc.task, layer=7).applies


def test_the_trace_ends_in_the_models_own_logits_and_attention(contexts) -> None:  # type: ignore[no-untyped-def]
    for name in ("encoder-digits", "decoder-0-99"):
        model: Model = contexts[name].model
        ids = model.prompt_ids(parse_expression("Min(4, 0, 8)"))
        t = trace_forward(model, ids, n_pad=2)  # the cells' trace: two [PAD] tokens, hidden by the mask
        tokens = np.array([[*ids, 0, 0]])
        mask = np.arange(tokens.shape[1])[None, :] < len(ids)
        with model.eval_mode():
            logits = model.forward(tokens, mask)
            maps = model.attention_maps()
        mine = t.values("logits")
        n = len(ids)
        assert np.allclose(mine[:n] if model.kind == "decoder" else mine,
                           logits[0, :n] if model.kind == "decoder" else logits[0], atol=1e-4)
        assert all(np.allclose(t.block(i, "attn.softmax")[:, :n, :n], m[0, :, :n, :n], atol=1e-5)
                   for i, m in enumerate(maps))
        assert len(maps) == t.n_blocks and np.all(t.block(0, "attn.softmax")[:, :, n:] == 0)


def test_the_attention_cell_shows_masks_and_rows_that_sum_to_one(contexts) -> None:  # type: ignore[no-untyped-def]
    for name in ("encoder-digits", "decoder-0-99"):
        ctx = contexts[name]
        res = compute_cell("attention_qk", ctx.model, "Max(3, 7, 2)", ctx.task, layer="1", head="2", pad="2")
        masked, p = res.tables[3].values, res.tables[4].values
        assert np.allclose(p.sum(axis=1), 1.0) and np.all(p[:, -2:] == 0) and np.all(np.isneginf(masked[:, -2:]))
        upper = np.triu(np.ones_like(p, dtype=bool), k=1)
        assert np.all(p[upper] == 0) == (ctx.model.kind == "decoder")
        assert res.actions[0] == ("attention", {"layer": 1, "head": 2, "expression": "Max(3, 7, 2)"})


def test_the_loss_cell_compares_with_ln_n(contexts) -> None:  # type: ignore[no-untyped-def]
    enc = contexts["encoder-digits"]
    res = compute_cell("loss", enc.model, "Max(3, 7, 2)", enc.task)
    assert "ln 10 = 2.3026" in res.notes[0] and res.tables[0].values[0, 1] < 0.1  # trained: nearly sure of 7
    tokens = compute_cell("tokens", contexts["decoder-0-99"].model, "Max(31, 75, 2)")
    assert tokens.tables[0].rows[-1] == "10 =" and tokens.tables[0].values[-1, 0] == 2


@pytest.mark.parametrize(("text", "kind", "params"), [
    ("Max(3, 7", "tokens", {}), ("Max(3, 7)", "tokens", {}), ("Foo(1, 2, 3)", "logits", {}),
])
def test_bad_expressions_are_one_line_errors(contexts, text: str, kind: str, params: dict) -> None:  # type: ignore[no-untyped-def]
    enc = contexts["encoder-digits"]  # 3 arguments exactly
    with pytest.raises(ExpressionError) as err:
        compute_cell(kind, enc.model, text, enc.task, **params)
    assert "\n" not in str(err.value)


def test_bad_kinds_and_parameters_are_config_errors(contexts) -> None:  # type: ignore[no-untyped-def]
    enc = contexts["encoder-digits"]
    for kind, params in (("nonsense", {}), ("tokens", {"layer": 0}), ("attention_qk", {"head": "1.5"}),
                         ("logits", {"top": 0}), ("generation", {"strategy": "random"}), ("tokens", {"pad": 99})):
        with pytest.raises(ConfigError):
            compute_cell(kind, enc.model, "Max(3, 7, 2)", enc.task, **params)


# -- exercises ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", MODELS)
def test_every_exercise_check_evaluates_on_every_model(contexts, name: str) -> None:  # type: ignore[no-untyped-def]
    ctx = contexts[name]
    for lesson in LESSONS:
        for ex in lesson.exercises:
            v = check_exercise(ex.check, ctx, ANSWERS[ex.answer_kind], ex.options, **ex.params)
            assert v.understood and v.explanation, (lesson.key, ex.id, v)
            assert v.measured or not v.applies, (lesson.key, ex.id, v)


def test_fresh_loss_accepts_ln_10_and_refuses_5(contexts) -> None:  # type: ignore[no-untyped-def]
    enc = contexts["encoder-digits"]
    for good in ("2.3", "ln 10", "ln(10)", "≈ 2.30", "2,3"):
        assert check_exercise("fresh_loss", enc, good).correct, good
    v = check_exercise("fresh_loss", enc, "5")
    assert not v.correct and v.understood and "ln 10 = 2.303" in v.measured
    dec = contexts["decoder-0-99"]
    assert check_exercise("fresh_loss", dec, "ln 21").correct and not check_exercise("fresh_loss", dec, "2.3").correct


def test_sizes_are_checked_against_the_model(contexts) -> None:  # type: ignore[no-untyped-def]
    enc = contexts["encoder-digits"]
    assert check_exercise("num_parameters", enc, "102,090").correct
    assert not check_exercise("num_parameters", enc, "102,091").correct
    assert check_exercise("num_parameters", enc, "64*256*2 + 256 + 64", part="ffn").correct
    assert check_exercise("vocab_size", enc, "21").correct
    assert check_exercise("token_count", enc, "8").correct and check_exercise("token_count", contexts["decoder-0-99"],
                                                                             "9").correct
    assert check_exercise("score_scale", enc, "sqrt(16)").correct and check_exercise("head_dim", enc, "16").correct
    assert check_exercise("answer_position", contexts["decoder-0-99"], "8").correct
    assert not check_exercise("answer_position", enc, "0").applies


def test_largest_head_is_the_measured_one(contexts) -> None:  # type: ignore[no-untyped-def]
    for name in ("encoder-digits", "decoder-0-99"):
        ctx = contexts[name]
        scores = head_max_attention(ctx)
        assert scores is not None
        layer, head = np.unravel_index(int(np.argmax(scores)), scores.shape)
        assert check_exercise("largest_head", ctx, f"layer {layer} head {head}").correct
        other = (int(layer), (int(head) + 1) % ctx.model.config.n_heads)
        assert not check_exercise("largest_head", ctx, f"{other[0]}.{other[1]}").correct
        assert scores.max() > 0.5  # a trained model really does attend to the maximum


def test_diverges_is_measured_by_a_short_run(contexts) -> None:  # type: ignore[no-untyped-def]
    ctx = contexts["fresh-encoder"]
    assert check_exercise("diverges", ctx, "yes", lr="3").correct
    assert check_exercise("diverges", ctx, "no", lr="0.01").correct
    assert not check_exercise("diverges", ctx, "yes", lr="0.01").correct


def test_unreadable_answers_get_a_message_not_an_error(contexts) -> None:  # type: ignore[no-untyped-def]
    enc = contexts["encoder-digits"]
    for check, answer in (("fresh_loss", "two-ish"), ("fresh_loss", ""), ("largest_head", "the big one"),
                          ("largest_head", "9.9"), ("dead_units", "perhaps"), ("fresh_loss", "__import__('os')")):
        v = check_exercise(check, enc, answer)
        assert not v.correct and not v.understood and v.explanation and "\n" not in v.explanation
    with pytest.raises(ConfigError):
        check_exercise("no_such_check", enc, "1")
    with pytest.raises(ConfigError):
        check_exercise("fresh_loss", enc, "1", bogus="1")


def test_answers_parse_leniently() -> None:
    for text, value in (("2.3", 2.3), ("ln 10", math.log(10)), ("1e-3", 1e-3), ("10^-3", 1e-3), ("1/4", 0.25),
                        ("√16", 4.0), ("102 090", 102090), ("about 0.5", 0.5), ("−0.75", -0.75), ("50%", 0.5),
                        ("2·3", 6.0), ("log(e)", 1.0)):
        assert parse_number(text) == pytest.approx(value), text
    assert parse_head("0.1", 2, 4) == (0, 1) == parse_head("layer 0 head 1", 2, 4) == parse_head("L0H1", 2, 4)
    assert parse_head("head 3 of layer 1", 2, 4) == (1, 3) and parse_head("2", 1, 4) == (0, 2)
    assert parse_yes_no("Yes!") and not parse_yes_no("no, it won't")
    assert parse_choice("B", ["x", "y"]) == 1 == parse_choice("2", ["x", "y"]) == parse_choice("Y", ["x", "y"])
    for bad in ("", "2 +", "1e999", "2**9999"):
        with pytest.raises(ValueError):
            parse_number(bad)


# -- progress -------------------------------------------------------------------------------------------
def test_progress_round_trips_in_the_user_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMLEARN_DATA", str(tmp_path / "data"))
    assert progress_path() == tmp_path / "data" / "learn_progress.json"
    p = LearnProgress.load()
    assert not p.opened and p.warning is None
    p.mark_opened("01-task-and-tokens")
    p.mark_solved("01-task-and-tokens", "vocab-size")
    p.mark_finished("02-embeddings-and-positions")
    again = LearnProgress.load()
    assert again.opened == {"01-task-and-tokens", "02-embeddings-and-positions"}
    assert again.finished == {"02-embeddings-and-positions"} and again.is_solved("01-task-and-tokens", "vocab-size")
    assert json.loads(progress_path().read_text(encoding="utf-8"))["version"] == 1
    again.reset()
    assert not LearnProgress.load().solved


@pytest.mark.parametrize("content", ["{not json", "[]", '{"version": 1, "opened": "01"}', '{"version": 7}',
                                     '{"version": 1, "solved": [3]}'])
def test_a_corrupted_progress_file_resets_with_a_warning(tmp_path: Path, content: str) -> None:
    path = tmp_path / "learn_progress.json"
    path.write_text(content, encoding="utf-8")
    p = LearnProgress.load(path)
    assert p.warning and "starting afresh" in p.warning and not (p.opened or p.finished or p.solved)
    p.mark_opened("03-attention")
    assert LearnProgress.load(path).opened == {"03-attention"} and LearnProgress.load(path).warning is None


def test_the_tokens_cell_lists_the_whole_vocabulary_in_lines_that_fit_the_reader(contexts) -> None:  # type: ignore[no-untyped-def]
    """Its first line was 75 characters: cropped at 80 columns, "10:7" never showed."""
    res = compute_cell("tokens", contexts["encoder-digits"].model, "Max(3, 7, 2)")
    vocab = [n for n in res.notes if n.startswith("  ") or n.startswith("vocabulary")]
    assert vocab[0] == "vocabulary, 21 tokens:" and all(len(line) <= 60 for line in vocab)
    listed = " ".join(vocab[1:]).split()
    assert listed[:3] == ["0:[PAD]", "1:[EOS]", "2:="] and "10:7" in listed and len(listed) == 21
