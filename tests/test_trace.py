"""The step debugger ("Trace"): its forward equals the model's, each backward stage passes its own
finite-difference check, its gradients equal the model's backward, its update equals the optimizer's;
and ``workbench trace`` prints it as text and JSON, with one-line errors."""

from __future__ import annotations

import io
import itertools
import json
from functools import cache

import numpy as np
import pytest

from core.data.batching import encode_examples, make_batch
from core.data.dataset import Example
from core.data.expression import parse_expression
from core.data.task import TaskConfig
from core.errors import ConfigError, ExpressionError
from core.nn.config import ModelConfig
from core.nn.layers.attention import MASK_VALUE
from core.nn.layers.softmax import softmax
from core.nn.models import build_model, copy_model
from core.nn.models.factory import Model
from core.optim import build_optimizer
from core.optim.clipping import clip_grad_norm
from core.optim.config import OptimizerConfig
from core.probe.inference import predict
from core.probe.trace import Trace, checkpoint_optimizer, trace_checkpoint, trace_expression
from core.probe.trace.forward import record_forward
from core.train.checkpoint import Checkpoint, read_checkpoint
from workbench.cli import main

ENCODER_TASK = TaskConfig()
DECODER_TASK = TaskConfig(max_value=99, min_args=2, max_args=3)
SHIPPED = {"encoder-digits": "Max(3, 7, 2)", "decoder-0-99": "Max(31, 7, 52)"}


@cache
def shipped(name: str) -> tuple[Checkpoint, Model]:
    ck = read_checkpoint(name)
    return ck, ck.build_model()


def tiny_model(kind: str, norm: str, positional: str, activation: str, seed: int = 0) -> Model:
    """A float64 model of the given architecture whose LayerNorms and biases are not at their initial 1 and
    0 (so a wrong dγ, dβ or db cannot hide)."""
    task = ENCODER_TASK if kind == "encoder" else DECODER_TASK
    config = ModelConfig(kind=kind, vocab_size=21, num_classes=task.num_classes, d_model=8, n_layers=2, n_heads=2,
                         d_ff=12, norm=norm, positional=positional, activation=activation, max_len=24)
    model = build_model(config, seed=seed, dtype=np.float64)
    rng = np.random.default_rng(seed + 1)
    model.params.data += rng.normal(0.0, 0.3, model.params.data.shape)
    model.eval()
    return model


def model_backward(model: Model, task: TaskConfig, text: str, label_smoothing: float = 0.0
                   ) -> tuple[float, np.ndarray, dict[str, np.ndarray]]:
    """The model's own loss, output probabilities and gradients for the example (float64 copy, dropout off)."""
    m = copy_model(model, np.float64)
    expr = parse_expression(text, task)
    batch = make_batch(encode_examples([Example(expr, expr.evaluate())], task, m.kind), np.arange(1))
    logits = m.forward(batch.tokens, batch.pad_mask)
    loss, dlogits, _ = m.objective(logits, batch, label_smoothing)
    m.params.zero_grad()
    m.backward(dlogits)
    return loss, softmax(logits)[0], {p.name: p.grad.copy() for p in m.params}


def assert_matches_model(trace: Trace, model: Model, task: TaskConfig, text: str, prob_tol: float,
                         label_smoothing: float = 0.0) -> None:
    loss, probs, grads = model_backward(model, task, text, label_smoothing)
    np.testing.assert_allclose(trace.stage("probabilities").values, probs, rtol=0, atol=prob_tol)
    assert trace.loss_value == pytest.approx(loss, rel=1e-9, abs=1e-12)
    assert set(trace.param_grads) == set(grads)
    for name, g in grads.items():
        scale = max(float(np.abs(g).max()), 1e-12)
        assert np.abs(trace.param_grads[name] - g).max() / scale < 1e-8, name


ARCHS = list(itertools.product(("encoder", "decoder"), ("pre", "post"), ("sinusoidal", "learned"), ("relu", "gelu")))


@pytest.mark.parametrize(("kind", "norm", "positional", "activation"), ARCHS)
def test_every_architecture_matches_the_model_and_passes_its_checks(kind: str, norm: str, positional: str,
                                                                    activation: str) -> None:
    model = tiny_model(kind, norm, positional, activation)
    task = ENCODER_TASK if kind == "encoder" else DECODER_TASK
    text = "Max(3, 7, 2)" if kind == "encoder" else "Min(41, 7, 86)"
    trace = trace_expression(model, task, text, label_smoothing=0.1)
    assert_matches_model(trace, model, task, text, prob_tol=1e-12, label_smoothing=0.1)
    assert trace.backward, "no backward stages"
    for stage in trace.backward:
        assert stage.check(max_elements=None) < 1e-6, stage.name


def test_forward_ends_with_logits_and_probabilities_and_the_softmax_of_the_logits() -> None:
    for kind in ("encoder", "decoder"):
        model = tiny_model(kind, "pre", "sinusoidal", "relu")
        trace = trace_expression(model, ENCODER_TASK if kind == "encoder" else DECODER_TASK, "Last(1, 2, 3)")
        assert [s.name for s in trace.forward[-2:]] == ["logits", "probabilities"]
        logits, probs = trace.forward[-2].values, trace.forward[-1].values
        np.testing.assert_allclose(probs, softmax(logits), atol=1e-15)
        np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=1e-12)
        names = [s.name for s in trace.forward]
        assert names[0] == "tokens" and "blocks.1.attn.scores" in names and "blocks.0.ffn.act" in names
        assert trace.backward[0].name == "loss"
        assert trace.backward[-1].name == "embedding"


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_models_trace_their_own_prediction(name: str) -> None:
    ck, model = shipped(name)
    text = SHIPPED[name]
    task = ck.config.dataset.task
    trace = trace_checkpoint(ck, text, model=model)
    assert trace.answer == trace.truth == parse_expression(text).evaluate()
    # exactly the model's own float64 computation, and the shipped float32 model's prediction within 1e-6
    assert_matches_model(trace, model, task, text, prob_tol=1e-9, label_smoothing=ck.config.optimizer.label_smoothing)
    probs = trace.stage("probabilities").values
    (pred,) = predict(model, task, [text])
    if model.kind == "encoder":
        for answer, p in pred.top:
            assert abs(probs[answer] - p) <= 1e-6
    else:  # each generated step is a scored, teacher-forced position (the answer is right)
        first = trace.stage("loss_mask").values.argmax()
        for s, step in enumerate(pred.steps):
            for token, p in step:
                assert abs(probs[first + s, list(model.output_labels()).index(token)] - p) <= 1e-6
    for stage in trace.backward:
        assert stage.check(max_elements=48) < 1e-6, stage.name


def test_decoder_trace_shows_teacher_forcing_and_the_masks() -> None:
    model = tiny_model("decoder", "pre", "learned", "gelu")
    trace = trace_expression(model, DECODER_TASK, "Max(5, 42)")
    expr = parse_expression("Max(5, 42)", DECODER_TASK)
    batch = make_batch(encode_examples([Example(expr, 42)], DECODER_TASK, "decoder"), np.arange(1))
    np.testing.assert_array_equal(trace.stage("tokens").values, batch.tokens[0])
    np.testing.assert_array_equal(trace.stage("targets").values, batch.targets[0])
    assert batch.loss_mask is not None
    np.testing.assert_array_equal(trace.stage("loss_mask").values, batch.loss_mask[0])
    assert trace.tokens[-3:] == ["=", "4", "2"]  # the answer is fed back in, one position behind
    scores, masked = trace.stage("blocks.0.attn.scores").values, trace.stage("blocks.0.attn.mask").values
    t = scores.shape[-1]
    future = np.triu(np.ones((t, t), bool), k=1)
    assert np.all(masked[:, future] == scores[:, future] + MASK_VALUE)
    assert np.all(trace.stage("blocks.0.attn.softmax").values[:, future] == 0.0)
    assert "leak" in trace.stage("loss_mask").note
    # no leak: another last answer digit fed in changes nothing at the positions before it
    ids = [int(i) for i in trace.stage("tokens").values]
    params = {p.name: p.value for p in model.params}
    tapes = [record_forward(model.config, params, [*ids[:-1], last], trace.tokens, [int(y) for y in batch.targets[0]],
                            list(batch.loss_mask[0])) for last in (ids[-1], ids[-1] + 1)]
    logits = [next(n.out for n in tape.nodes if n.name == "logits") for tape in tapes]
    np.testing.assert_array_equal(logits[0], trace.stage("logits").values)
    np.testing.assert_array_equal(logits[1][:-1], logits[0][:-1])
    assert np.any(logits[1][-1] != logits[0][-1])


def test_encoder_trace_reads_position_zero() -> None:
    model = tiny_model("encoder", "post", "sinusoidal", "relu")
    trace = trace_expression(model, ENCODER_TASK, "First(2, 8, 4)")
    assert trace.stage("readout").shape == (8,)
    assert np.all(trace.stage("blocks.0.attn.mask").values == trace.stage("blocks.0.attn.scores").values)
    d_final = trace.stage("readout", "backward").values
    assert np.all(d_final[1:] == 0.0) and np.any(d_final[0] != 0.0)


def test_a_wrong_backward_rule_fails_its_check() -> None:
    model = tiny_model("encoder", "pre", "sinusoidal", "gelu")
    trace = trace_expression(model, ENCODER_TASK, "Max(3, 7, 2)")
    stage = next(s for s in trace.backward if s.name == "blocks.0.ffn.act")
    assert stage.check(None) < 1e-6
    stage.grads["x"] *= 1.05  # the checker reads the same gradient the stage shows
    assert stage.check(None) > 1e-3
    ln = next(s for s in trace.backward if s.name == "blocks.1.ln2")
    ln.param_grads["blocks.1.ln2.gamma"][0] += 1.0  # a wrong parameter gradient is caught too
    assert ln.check(None) > 1e-3


def run_optimizer(model: Model, trace: Trace, opt_config: OptimizerConfig | None, ck: Checkpoint | None,
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The parameter's value before and after the real optimizer's step on the trace's gradients."""
    m = copy_model(model, np.float64)
    if ck is not None:
        opt, lr, clip = checkpoint_optimizer(ck, m.params)
    else:
        assert opt_config is not None
        opt, lr, clip = build_optimizer(opt_config, m.params), opt_config.lr, opt_config.clip_norm
    for p in m.params:
        p.grad[...] = trace.param_grads[p.name]
    clip_grad_norm(m.params.grad, clip)
    opt.lr = lr
    before = m.params[trace.update.param].value.copy()
    opt.step()
    return before, m.params[trace.update.param].value.copy()


@pytest.mark.parametrize(("name", "param"), [("sgd", "blocks.0.ffn.fc1.w"), ("adam", None), ("adamw", "head.w"),
                                             ("adam", "blocks.1.ln1.gamma")])
def test_update_equals_the_optimizer_step(name: str, param: str | None) -> None:
    model = tiny_model("encoder", "pre", "learned", "relu")
    cfg = OptimizerConfig(name=name, lr=0.05, weight_decay=0.1, clip_norm=0.5, momentum=0.8)
    m64 = copy_model(model, np.float64)
    opt = build_optimizer(cfg, m64.params)
    opt.step_count = 3
    for v in opt.state.values():
        v[...] = np.abs(np.random.default_rng(0).normal(0, 0.01, v.shape))
    trace = trace_expression(m64, ENCODER_TASK, "Min(3, 7, 2)", optimizer=opt, lr=cfg.lr, clip_norm=cfg.clip_norm,
                             param=param)
    u = trace.update
    assert u.param == (param or max(trace.param_grads, key=lambda n: np.linalg.norm(trace.param_grads[n])))
    assert u.clip_scale < 1.0 and u.step == 4
    before = m64.params[u.param].value.copy()
    for p in m64.params:
        p.grad[...] = trace.param_grads[p.name]
    clip_grad_norm(m64.params.grad, cfg.clip_norm)
    opt.lr = cfg.lr
    opt.step()
    np.testing.assert_allclose(u.value("w"), before, rtol=0, atol=0)
    np.testing.assert_allclose(u.value("w_new"), m64.params[u.param].value, rtol=1e-12, atol=1e-15)
    state = opt.state_for(u.param)
    for key in state:
        np.testing.assert_allclose(u.value(key), state[key], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_update_starts_from_the_saved_optimizer_state(name: str) -> None:
    ck, model = shipped(name)
    trace = trace_checkpoint(ck, SHIPPED[name], param="head.b", model=model)
    assert trace.update.step == int(ck.state["step"]) + 1
    before, after = run_optimizer(model, trace, None, ck)
    np.testing.assert_allclose(trace.update.value("w"), before, atol=0)
    np.testing.assert_allclose(trace.update.value("delta"), after - before, rtol=1e-9, atol=1e-15)


def test_bad_input_is_one_clear_error() -> None:
    model = tiny_model("encoder", "pre", "sinusoidal", "relu")
    with pytest.raises(ExpressionError):
        trace_expression(model, ENCODER_TASK, "Max(3, 7")
    with pytest.raises(ExpressionError, match="too long"):
        trace_expression(tiny_model("decoder", "pre", "sinusoidal", "relu"), TaskConfig(max_value=99, max_args=8),
                         "Max(" + ", ".join(["11"] * 8) + ")")
    with pytest.raises(ConfigError, match="no parameter named"):
        trace_expression(model, ENCODER_TASK, "Max(3, 7, 2)", param="blocks.0.nope")


def test_pages_find_and_to_dict() -> None:
    trace = trace_expression(tiny_model("decoder", "post", "learned", "relu"), DECODER_TASK, "First(1, 2)")
    pages = trace.pages()
    sections = [sec for sec, _ in pages]
    assert sections[0] == "forward" and "loss" in sections and sections[-1] == "update"
    i = trace.find("blocks.1.attn")
    assert i is not None and pages[i][1].name == "blocks.1.attn.q"
    j = trace.find("blocks.1.attn", i + 1)
    assert j is not None and pages[j][1].name == "blocks.1.attn.k"
    data = json.loads(json.dumps(trace.to_dict()))
    assert [s["name"] for s in data["forward"][-2:]] == ["logits", "probabilities"]
    for s in data["forward"] + data["backward"]:
        assert np.asarray(s["values"]).shape == tuple(s["shape"]), s["name"]


# -- the command ---------------------------------------------------------------------------------------
def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_cli_text(name: str) -> None:
    code, out, err = cli("trace", name, SHIPPED[name])
    assert code == 0, err
    assert "══ forward" in out and "══ backward" in out and "══ update of" in out
    assert "[F1] tokens" in out and "(probabilities)  p = softmax(logits)" in out
    assert "(blocks.0.attn.scores)  S = Q Kᵀ / √dₕ" in out
    assert "…" in out and "rule: " in out
    assert max(len(line) for line in out.splitlines()) < 400  # matrices are truncated


def test_cli_json_and_stage_filter() -> None:
    code, out, err = cli("trace", "decoder-0-99", "Min(12, 5)", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["model"] == "decoder-0-99" and data["expression"] == "Min(12, 5)"
    assert [s["name"] for s in data["forward"][-2:]] == ["logits", "probabilities"]
    for s in data["forward"] + data["backward"]:
        assert {"name", "title", "formula", "shape", "values"} <= set(s)
        assert np.asarray(s["values"]).shape == tuple(s["shape"])
    probs = np.asarray(data["forward"][-1]["values"])
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=1e-9)
    assert data["update"]["param"] and data["update"]["stages"]
    code, out, _ = cli("trace", "encoder-digits", "Max(3, 7, 2)", "--json", "--stage", "blocks.1.attn",
                       "--param", "head.w", "--check")
    data = json.loads(out)
    assert code == 0 and {s["name"] for s in data["forward"]} == {f"blocks.1.attn.{n}" for n in
                                                                 ("q", "k", "v", "scores", "mask", "softmax",
                                                                  "weighted", "out")}
    assert data["update"]["param"] == "head.w"
    assert all(s["check"] < 1e-6 for s in data["backward"])


def test_cli_check_in_text() -> None:
    code, out, _ = cli("trace", "encoder-digits", "Min(3, 7, 2)", "--stage", "blocks.0.ffn", "--check")
    assert code == 0 and out.count("check: max relative error") == 3


@pytest.mark.parametrize(("args", "needle"), [
    (("trace", "encoder-digits", "Max(3, 7"), "error: "),
    (("trace", "encoder-digits", "Max(3, 70, 2)"), "error: "),
    (("trace", "no-such-model", "Max(3, 7, 2)"), "error: "),
    (("trace", "encoder-digits", "Max(3, 7, 2)", "--param", "nope"), "error: no parameter named 'nope'"),
])
def test_cli_errors_are_one_line(args: tuple[str, ...], needle: str) -> None:
    code, out, err = cli(*args)
    assert code == 2 and out == ""
    assert err.startswith(needle) and err.count("\n") == 1 and "Traceback" not in err
