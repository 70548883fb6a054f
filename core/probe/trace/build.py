"""Trace one expression through a model: forward, loss, backward and one optimizer update.

    trace_expression(model, task, "Max(3, 7, 2)")     → Trace (see ``core.probe.trace.stage``)
    trace_checkpoint(read_checkpoint("encoder-digits"), "Max(3, 7, 2)")   with the saved optimizer state
    trace_forward(model, ids, n_pad=2)               → ForwardTrace: the forward stages alone (the lessons' cells)

The example is the training example of that expression: the encoder reads its tokens and is scored on
the answer class; the decoder reads ``expression = answer-digits`` (teacher forcing: the true answer is
its input, one position behind) and is scored on each next token from "=" on, the answer's digits and
[EOS]. The model is only read. A bad expression raises ``ExpressionError`` (one line, no traceback).
"""

from __future__ import annotations

import numpy as np

from core.data.answer_format import answer_tokens, decode_answer
from core.data.expression import parse_expression
from core.data.operations import Answer
from core.data.task import TaskConfig
from core.data.vocab import VOCAB
from core.errors import ExpressionError
from core.nn.models.factory import Model
from core.optim.base import Optimizer
from core.optim.config import OptimizerConfig
from core.probe.trace.backward import backward_stages
from core.probe.trace.forward import record_forward, record_logits
from core.probe.trace.ops import softmax
from core.probe.trace.stage import Axis, ForwardTrace, Stage, Trace
from core.probe.trace.tape import Node, Tape
from core.probe.trace.update import checkpoint_optimizer, fresh_optimizer, trace_update
from core.train.checkpoint import Checkpoint


def example_rows(model: Model, ids: list[int], answer: Answer) -> tuple[list[int], list[int], list[float]]:
    """(input ids, targets, loss weights) of the training example — as ``core.data.batching.make_batch``
    builds them. Decoder: the sequence is prompt + answer digits + [EOS]; the input drops its last token,
    the targets its first, and weight 1 marks the positions from "=" on, whose next token is the answer's."""
    if model.kind == "encoder":
        assert isinstance(answer, int), "an encoder answers with one number"
        return ids, [answer], [1.0]
    seq = [*ids, *VOCAB.encode(answer_tokens(answer)), VOCAB.eos_id]
    first = model.readout_position(len(ids))
    return seq[:-1], seq[1:], [1.0 if t >= first else 0.0 for t in range(len(seq) - 1)]


def trace_expression(model: Model, task: TaskConfig, text: str, *, optimizer: Optimizer | None = None,
                     lr: float | None = None, clip_norm: float | None = None, param: str | None = None,
                     label_smoothing: float = 0.0) -> Trace:
    """The trace of ``text`` through ``model``. The update is the one ``optimizer`` (over ``model.params``;
    default: a fresh Adam) would make to ``param`` (default: the largest gradient) at ``lr``."""
    expression = parse_expression(text, task)
    if not model.fits(expression, task):
        raise ExpressionError("expression is too long for this model", text)
    truth = expression.answer()
    ids, targets, weights = example_rows(model, model.prompt_ids(expression), truth)
    tokens = VOCAB.decode(ids)
    params = _float64_params(model)
    tape = record_forward(model.config, params, ids, tokens, targets, weights, label_smoothing)
    steps, grads = tape.backward()
    forward, answer = _forward_stages(model, tape, tokens, ids, targets, weights, expression.list_valued)
    loss_node = tape.nodes[-1]
    loss = Stage("loss", "loss", loss_node.op.formula, loss_node.out, (), loss_node.note)
    if optimizer is None:
        optimizer, fresh_lr, fresh_clip = fresh_optimizer(OptimizerConfig(), model.params)
        lr = fresh_lr if lr is None else lr
        clip_norm = fresh_clip if clip_norm is None else clip_norm
    update = trace_update(optimizer, params, grads, param, optimizer.lr if lr is None else lr, clip_norm or 0.0)
    return Trace(model.kind, str(expression), tokens, truth, answer, forward, loss, backward_stages(steps), grads,
                 update)


def trace_checkpoint(ck: Checkpoint, text: str, param: str | None = None, model: Model | None = None) -> Trace:
    """The trace with the checkpoint's model, its optimizer state and settings, and its label smoothing."""
    model = ck.build_model() if model is None else model
    optimizer, lr, clip = checkpoint_optimizer(ck, model.params)
    return trace_expression(model, ck.config.dataset.task, text, optimizer=optimizer, lr=lr, clip_norm=clip,
                            param=param, label_smoothing=ck.config.optimizer.label_smoothing)


def trace_forward(model: Model, ids: list[int], n_pad: int = 0) -> ForwardTrace:
    """The forward stages of ``ids`` followed by ``n_pad`` [PAD] tokens (hidden by the mask), up to the
    logits — no targets, loss, backward or update. Each stage keeps the arrays its op read (``inputs``)."""
    full = [*ids, *[VOCAB.pad_id] * n_pad]
    tokens = VOCAB.decode(full)
    tape = record_logits(model.config, _float64_params(model), full, tokens, n_real=len(ids))
    return ForwardTrace(tokens, [_node_stage(node) for node in tape.nodes])


def _float64_params(model: Model) -> dict[str, np.ndarray]:
    return {p.name: p.value.astype(np.float64) for p in model.params}


def _node_stage(node: Node) -> Stage:
    return Stage(node.name, node.title, node.op.formula, node.out, node.axes, node.note, inputs=dict(node.args))


def _forward_stages(model: Model, tape: Tape, tokens: list[str], ids: list[int], targets: list[int],
                    weights: list[float], list_valued: bool = False) -> tuple[list[Stage], Answer | None]:
    pos = Axis("position", tuple(f"{i}:{tok}" for i, tok in enumerate(tokens)))
    f64 = np.asarray
    stages = [Stage("tokens", "tokens", "ids = vocab(tokens)", f64(ids, dtype=np.float64), (pos,),
                    "the expression as token ids" + (" — the prompt, then the answer fed back in (teacher forcing)"
                                                      if model.kind == "decoder" else "") +
                    (f"; dropout ({model.config.dropout:g}) is off here, as in evaluation"
                     if model.config.dropout else ""))]
    if model.kind == "decoder":
        stages.append(Stage("targets", "targets (next tokens)", "target_t = ids_{t+1}", f64(targets, dtype=np.float64),
                            (pos,), "position t is trained to predict the token after it: " + ", ".join(
                                f"{t}→{VOCAB.tokens[y]}" for t, (y, w) in enumerate(zip(targets, weights, strict=True))
                                if w > 0)))
        stages.append(Stage("loss_mask", "loss mask", "w_t = 1[t ≥ position of '=']", f64(weights), (pos,),
                            "only the answer is scored: positions before '=' would predict the expression itself. "
                            "The answer digits are in the input too, yet cannot leak: the causal mask lets position "
                            "t read only tokens ≤ t, and the token it must predict is at t+1"))
    else:
        stages.append(Stage("targets", "target (answer class)", "y = answer", f64(targets, dtype=np.float64), (),
                            "the encoder is scored once, on the class of the answer"))
    for node in tape.nodes[:-1]:
        stages.append(_node_stage(node))
    logits = tape.nodes[-2].out
    probs = softmax(logits)
    stages.append(Stage("probabilities", "probabilities", "p = softmax(logits)", probs, tape.nodes[-2].axes,
                        "exp(z)/Σexp(z): what the model believes" + (", per position" if probs.ndim == 2 else "")))
    if model.kind == "encoder":
        return stages, int(np.argmax(probs))
    scored = [t for t, w in enumerate(weights) if w > 0]
    return stages, decode_answer(probs[scored].argmax(axis=-1).tolist(), list_valued)
