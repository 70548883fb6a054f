"""The Lab's tools (core.probe.lab): hooks are exact masks, ablation restores bit for bit, patching and
attribution satisfy their identities, and on the shipped encoder the methods agree on which head does
Max and Min."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from core.data.batching import encode_examples, make_batch
from core.data.dataset import DatasetConfig, generate_dataset
from core.data.expression import parse_expression
from core.data.task import TaskConfig
from core.data.vocab import VOCAB
from core.errors import LabError
from core.nn.config import ModelConfig
from core.nn.gradcheck import numerical_gradient, relative_error
from core.nn.models import build_model
from core.nn.models.factory import Model, copy_model
from core.probe.lab.ablation import Ablation, ablated, ablation_hooks, heads_one_by_one, run_ablation
from core.probe.lab.activations import hooked, mean_activations, record
from core.probe.lab.attribution import attribute
from core.probe.lab.circuits import circuit_caption, head_circuits
from core.probe.lab.components import HeadId, parse_heads, parse_neurons, parse_sublayers
from core.probe.lab.corruptions import NAMES, corrupt, corruptions
from core.probe.lab.patching import patch
from core.probe.lab.roles import argument_spans, head_roles
from core.train.checkpoint import read_checkpoint
from core.train.held_out import held_out_split
from core.train.run import Run, RunConfig

TASK = TaskConfig(max_value=99, min_args=2, max_args=4)


def _model(kind: str, norm: str = "pre", seed: int = 0, d_model: int = 16, d_ff: int = 24) -> Model:
    config = ModelConfig(kind=kind, vocab_size=len(VOCAB), num_classes=TASK.num_classes, max_len=32, d_model=d_model,
                         n_layers=2, n_heads=4, d_ff=d_ff, norm=norm)
    model = build_model(config, seed=seed, dtype=np.float64)
    model.params.data += np.random.default_rng(seed + 1).normal(0.0, 0.2, model.params.data.shape)
    return model


def _split(kind: str, n: int = 40):
    data = generate_dataset(DatasetConfig(task=TASK, n_train=n, n_val=10, n_test=10, seed=3))
    return encode_examples(data.train, TASK, kind)


@pytest.fixture(scope="module")
def shipped_encoder():
    ck = read_checkpoint("encoder-digits")
    return ck.build_model(), ck.config.dataset.task, held_out_split(ck.config, "test")


# -- hooks and ablation --------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["encoder", "decoder"])
def test_ablating_nothing_is_the_baseline_and_restoring_is_bit_identical(kind: str) -> None:
    model = _model(kind)
    batch = make_batch(_split(kind), np.arange(20))
    model.eval()
    before = model.forward(batch.tokens, batch.pad_mask).copy()
    weights = model.params.data.copy()
    with ablated(model, Ablation()):
        assert np.array_equal(model.forward(batch.tokens, batch.pad_mask), before)
    with ablated(model, Ablation(heads=(HeadId(0, 1), HeadId(1, 3)), neurons=parse_neurons("1:2-5", model.config),
                                 sublayers=parse_sublayers("0.ffn", model.config))):
        during = model.forward(batch.tokens, batch.pad_mask)
        assert np.abs(during - before).max() > 1e-3  # the ablation did something
    after = model.forward(batch.tokens, batch.pad_mask)
    assert np.array_equal(after, before)
    assert np.array_equal(model.params.data, weights)
    assert all(not block.hooks for block in model.blocks)


def test_run_ablation_of_nothing_reports_the_baseline(shipped_encoder) -> None:
    model, task, split = shipped_encoder
    result = run_ablation(model, task, split, Ablation())
    assert result.ablated.accuracy == result.baseline.accuracy == 1.0


def test_ablating_every_head_drops_positional_operations_to_chance(shipped_encoder) -> None:
    model, task, split = shipped_encoder
    result = run_ablation(model, task, split, Ablation(heads=parse_heads("all", model.config)))
    for op in ("First", "Second", "Last"):  # with no attention, position 0 cannot see any argument: ~1/10
        assert result.ablated.by_operation[op] <= 0.25, result.ablated.by_operation
    assert result.baseline.accuracy == 1.0


@pytest.mark.parametrize(("kind", "norm"), [("encoder", "pre"), ("decoder", "pre"), ("decoder", "post")])
def test_training_through_an_ablation_has_exact_gradients(kind: str, norm: str) -> None:
    """An ablation that stays on while training: the training-mode forward (the shortcut rows) honours the
    masks, and its backward is the masked function's gradient (finite differences)."""
    model = _model(kind, norm, seed=4, d_model=8, d_ff=8)
    split = _split(kind, 12)
    batch = make_batch(split, np.arange(6), extra_padding=1)
    abl = Ablation(heads=(HeadId(0, 2), HeadId(1, 0)), neurons=parse_neurons("0:3,1:top4", model.config),
                   sublayers=parse_sublayers("1.attn", model.config), mean=True)
    with hooked(model, ablation_hooks(model, abl, split)):
        model.eval()
        full = model.forward_batch(batch)
        model.train(True)

        def loss() -> float:
            return model.objective(model.forward_batch(batch), batch)[0]

        logits = model.forward_batch(batch)
        if kind == "decoder":  # the training shortcut computes the scored rows only: the same values
            rows = np.flatnonzero(batch.loss_mask.reshape(-1) > 0)
            assert np.abs(logits - full.reshape(-1, full.shape[-1])[rows]).max() <= 1e-12
        else:
            assert np.abs(logits - full).max() <= 1e-12
        model.params.zero_grad()
        model.backward(model.objective(logits, batch)[1])
        errors = {p.name: relative_error(p.grad.copy(), numerical_gradient(loss, p.value)) for p in model.params}
    assert max(errors.values()) <= 1e-6, errors
    grad = model.params.grad
    masked = model.params["blocks.1.attn.qkv.w"]  # the whole attention sublayer of block 1 is off
    assert not np.any(grad[masked.offset:masked.offset + masked.size])


def test_mean_ablation_puts_the_reference_mean_in_place(shipped_encoder) -> None:
    model, _, split = shipped_encoder
    means = mean_activations(model, split, [(0, "heads")])[(0, "heads")]
    batch = make_batch(split, np.arange(8))
    with ablated(model, Ablation(heads=(HeadId(0, 2),), mean=True), split):
        acts, _ = record(model, batch.tokens, [(0, "heads")], batch.pad_mask)
    seen = acts[(0, "heads")][:, :, 32:48]  # head 2's columns (d_head 16), after the knockout
    expected = np.broadcast_to(means[0, : batch.tokens.shape[1], 32:48], seen.shape)
    assert not np.allclose(means[0, 1, 32:48], 0)  # a real mean, not zero ablation
    assert np.allclose(seen[batch.pad_mask], expected[batch.pad_mask], atol=1e-6)


def test_head_table_finds_the_max_min_head_and_circuits_agree(shipped_encoder) -> None:
    """The head the Max and Min answers depend on most (ablation: largest drop of the answer margin) is the
    head whose QK circuit has Max look for large digits and Min for small ones, and the head that
    activation patching of a Max example recovers most with."""
    model, task, split = shipped_encoder
    table = heads_one_by_one(model, task, split)
    assert len(table.effects) == 8 and table.baseline.accuracy == 1.0
    margins = table.margin_drops(task.operations)
    max_min = [task.operations.index("Max"), task.operations.index("Min")]
    by_ablation = table.effects[int(np.argmax(margins[:, max_min].sum(axis=1)))].head
    captions = {c.head: circuit_caption(c, model, task) for c in head_circuits(model, task)}
    assert "Max looks for large digits" in captions[by_ablation], captions[by_ablation]
    assert "Min looks for small digits" in captions[by_ablation], captions[by_ablation]
    heads = patch(model, task, "Max(3, 7, 2)", "Max(3, 0, 2)").heads
    assert HeadId(*map(int, np.unravel_index(int(np.argmax(heads)), heads.shape))) == by_ablation
    roles = {r.head: r for r in head_roles(model, task, split)}
    assert roles[by_ablation].by_operation["Min"]["answer"] >= 0.9  # it looks at the answer's argument


# -- patching and attribution ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "clean", "corrupted"), [
    ("encoder", "Max(31, 72, 25)", "Max(31, 12, 25)"),
    ("decoder", "Max(31, 72, 25)", "Max(31, 75, 25)"),  # the answers share their first digit
])
def test_patching_identities(kind: str, clean: str, corrupted: str) -> None:
    model = _model(kind)
    same = patch(model, TASK, clean, corrupted, source="clean", target="clean")
    none = patch(model, TASK, clean, corrupted, source="corrupt", target="corrupt")
    real = patch(model, TASK, clean, corrupted)
    n_tokens = len(model.prompt_ids(parse_expression(clean, TASK))) + (1 if kind == "decoder" else 0)
    assert real.residual.shape == (3, n_tokens) and real.heads.shape == (2, 4)
    assert np.allclose(same.residual, 1.0, atol=1e-9) and np.allclose(same.heads, 1.0, atol=1e-9)
    assert np.allclose(none.residual, 0.0, atol=1e-9) and np.allclose(none.heads, 0.0, atol=1e-9)
    read = real.position  # patching the final residual at the read position restores the clean logits
    assert real.residual[-1, read] == pytest.approx(1.0, abs=1e-9)
    changed = [t for t, (a, b) in enumerate(zip(real.tokens, real.corrupt_tokens, strict=True)) if a != b]
    assert real.residual[0, changed[0]] == pytest.approx(1.0, abs=1e-9)  # the embeddings: only there
    others = np.delete(real.residual[0], changed)
    assert np.allclose(others, 0.0, atol=1e-9)
    if kind == "decoder":
        assert real.compared == ("2", "5")  # the second answer token, after the shared "7"


def test_patching_refuses_what_it_cannot_measure() -> None:
    model = _model("encoder")
    with pytest.raises(LabError, match="same length"):
        patch(model, TASK, "Max(3, 7)", "Max(3, 17)")
    with pytest.raises(LabError, match="same answer"):
        patch(model, TASK, "Max(3, 7)", "Max(7, 3)")


@pytest.mark.parametrize("kind", ["encoder", "decoder"])
def test_attributions_add_up_to_the_logit(kind: str) -> None:
    model = _model(kind)
    for text in ("Max(31, 72, 25)", "First(4, 9)", "Min(Max(1, 2), 88)"):
        task = replace(TASK, max_depth=2)
        a = attribute(model, task, text)
        assert abs(a.total - a.logit) <= 1e-6
        assert len(a.components) == 2 + 2 * (4 + 2) + 1  # embeddings, per layer 4 heads + bias + ffn, biases
    with pytest.raises(LabError, match="pre-LN"):
        attribute(_model(kind, norm="post"), TASK, "Max(1, 2)")


def test_attribution_of_the_shipped_encoder_matches_its_logit(shipped_encoder) -> None:
    model, task, _ = shipped_encoder
    a = attribute(copy_model(model, np.float64), task, "Max(3, 7, 2)")
    assert abs(a.total - a.logit) <= 1e-6 and a.target == "7"


# -- names, corruptions, splits ----------------------------------------------------------------------------
def test_component_names_are_checked_against_the_model() -> None:
    config = _model("encoder").config
    assert parse_heads("0.1, 1.3", config) == (HeadId(0, 1), HeadId(1, 3))
    assert len(parse_heads("all", config)) == 8
    assert parse_neurons("1:top3,0:2-4", config)[1].neurons == (2, 3, 4)
    for bad, message in [("2.1", "no layer 2"), ("0.4", "no head 4"), ("0-1", "layer.head")]:
        with pytest.raises(LabError, match=message):
            parse_heads(bad, config)
    with pytest.raises(LabError, match="0 to 23"):
        parse_neurons("0:30", config)
    with pytest.raises(LabError, match=r"layer\.attn"):
        parse_sublayers("0.mlp", config)


def test_corruptions_keep_the_length_and_change_the_answer() -> None:
    task = replace(TASK, max_depth=2)
    for text in ("Max(3, 7, 2)", "First(31, 72, 25)", "Min(Max(1, 2), 88, 40)", "Last(5, 5)"):
        expr = parse_expression(text, task)
        found = corruptions(expr, task)
        assert found, text
        for c in found:
            assert len(c.expression.tokens()) == len(expr.tokens())
            assert c.expression.evaluate() != expr.evaluate()
            assert c.name in NAMES
    assert str(corrupt(parse_expression("Max(3, 7, 2)", task), task, "change-digit").expression) != "Max(3, 7, 2)"
    with pytest.raises(LabError, match="unknown corruption"):
        corrupt(parse_expression("Max(3, 7, 2)", task), task, "shuffle")


def test_argument_spans() -> None:
    expr = parse_expression("Max(3, 42, Min(1, 2))", replace(TASK, max_depth=2))
    tokens = expr.tokens()
    assert [tokens[a:b] for a, b in argument_spans(expr)] == [["3"], ["4", "2"], ["Min", "(", "1", ",", "2", ")"]]


def test_held_out_split_is_the_runs_own() -> None:
    config = RunConfig.create(DatasetConfig(task=TASK, n_train=300, n_val=20, n_test=30, seed=5), kind="decoder")
    run = Run(config)
    for name, split in (("val", run.val_split), ("test", run.test_split)):
        alone = held_out_split(config, name)
        assert split is not None and alone.texts == split.texts
        assert np.array_equal(alone.tokens, split.tokens)
