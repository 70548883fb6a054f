"""The live cells of the lessons: ``compute_cell(kind, model, expression)`` → a ``CellResult`` of real numbers.

A lesson says ``cell: attention_qk`` with parameters (``layer: 0``, ``head: 1``) and an expression; the
Learn pane (or any front end) calls ``compute_cell`` with the learner's current model and draws the
result's tables, caption and action buttons. ``CELL_KINDS`` declares every kind with its parameters,
so a lesson file is validated when it is loaded (``check_cell_params``), long before a cell runs.

Errors the learner or a lesson can cause are one line each: an expression that does not parse or that
the model cannot take raises ``ExpressionError``; an unknown kind or a bad parameter ``ConfigError``.
A cell that does not apply to this model (generation on an encoder, layer 3 of a 2-layer model) is no
error: it returns a result with ``applies = False`` whose caption says why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.data.expression import parse_expression
from core.data.task import TaskConfig
from core.errors import ConfigError, ExpressionError
from core.nn.models.factory import Model
from core.probe import cells_forward as fw
from core.probe import cells_training as tr
from core.probe.cell_table import CellResult, not_applicable

DEFAULT_EXPRESSION = "Max(3, 7, 2)"  # fits every shipped model and every default task


@dataclass(frozen=True)
class CellParam:
    """One parameter of a cell kind: its type (int, float or str), default and bounds."""

    name: str
    type: type
    default: Any
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()

    def coerce(self, raw: object) -> Any:
        """The value from a lesson's text (or a Python value), or ConfigError naming the parameter."""
        try:
            if self.type is int and isinstance(raw, float) and raw.is_integer():
                raw = int(raw)
            value = self.type(raw.strip() if isinstance(raw, str) else raw)
            if self.type is int and isinstance(raw, float | bool):
                raise ValueError
        except (TypeError, ValueError):
            raise ConfigError(f"{self.name} must be {'a whole number' if self.type is int else 'a number'}"
                              f", got {raw!r}") from None
        if self.choices and value not in self.choices:
            raise ConfigError(f"{self.name} must be one of {', '.join(self.choices)}, got {value!r}")
        if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            raise ConfigError(f"{self.name} must be between {self.lo:g} and {self.hi:g}, got {value!r}")
        return value


@dataclass(frozen=True)
class CellKind:
    name: str
    function: Callable[..., CellResult]
    params: tuple[CellParam, ...]
    summary: str
    kinds: tuple[str, ...] = ("encoder", "decoder")  # the model kinds it applies to


_LAYER = CellParam("layer", int, 0, 0, 47)
_DIMS = CellParam("dims", int, 8, 1, 64)
_TOP = CellParam("top", int, 5, 1, 100)
_PAD = CellParam("pad", int, 0, 0, 16)  # padding tokens appended to the input (handled by compute_cell)

CELL_KINDS: dict[str, CellKind] = {k.name: k for k in (
    CellKind("tokens", fw.cell_tokens, (_PAD,), "the model's input token ids and strings"),
    CellKind("embedding_rows", fw.cell_embedding_rows, (_DIMS,), "the embedding rows of the expression's tokens"),
    CellKind("positions", fw.cell_positions, (_DIMS,), "the position signal for the prompt's length"),
    CellKind("attention_qk", fw.cell_attention_qk,
             (_LAYER, CellParam("head", int, 0, 0, 255), CellParam("dims", int, 4, 1, 64), _PAD),
             "one head's Q, K, raw and masked scores, and softmax"),
    CellKind("heads", fw.cell_heads, (), "every head's attention at the readout position"),
    CellKind("residual", fw.cell_residual, (), "the residual stream's norm per position after each block"),
    CellKind("layernorm", fw.cell_layernorm, (_LAYER, CellParam("which", int, 1, 1, 2)),
             "mean and variance per position before and after a LayerNorm"),
    CellKind("dead_relus", fw.cell_dead_relus, (CellParam("sample", int, 200, 10, 2000),),
             "share of FFN units never active on the expression and on a sample of the task"),
    CellKind("logits", fw.cell_logits, (_TOP,), "logits and probabilities at the readout, top k"),
    CellKind("loss", fw.cell_loss, (), "the loss of this example against ln(number of outputs)"),
    CellKind("logit_lens", fw.cell_logit_lens, (_TOP,), "the answer read out after each layer"),
    CellKind("param_count", fw.cell_param_count, (CellParam("block", int, 0, 0, 47),),
             "parameter counts of every tensor of one block, and the totals"),
    CellKind("gradients", tr.cell_gradients, (_LAYER,), "the gradient of this example, with finite differences"),
    CellKind("adam_step", tr.cell_adam_step,
             (CellParam("lr", float, 1e-3, 1e-8, 10.0), CellParam("top", int, 6, 1, 50)),
             "Adam's m, v and update on a first step"),
    CellKind("lr_schedule", tr.cell_lr_schedule,
             (CellParam("lr", float, 2e-3, 1e-8, 10.0), CellParam("warmup", int, 200, 0, 10**6),
              CellParam("total", int, 2000, 1, 10**7), CellParam("min_lr", float, 1e-5, 0.0, 10.0),
              CellParam("schedule", str, "cosine", choices=("constant", "cosine", "step"))),
             "the learning rate over the steps of a schedule"),
    CellKind("lr_sweep", tr.cell_lr_sweep,
             (CellParam("lrs", str, "0.001,0.01,0.1,1"), CellParam("steps", int, 50, 10, 200)),
             "short runs of a tiny model at several learning rates"),
    CellKind("teacher_forcing", tr.cell_teacher_forcing, (), "the decoder's inputs, targets and loss mask",
             ("decoder",)),
    CellKind("generation", tr.cell_generation,
             (CellParam("strategy", str, "greedy", choices=("greedy", "sample", "beam")),
              CellParam("temperature", float, 1.0, 0.0, 100.0), CellParam("top_k", int, 0, 0, 100),
              CellParam("beam_width", int, 3, 1, 20), CellParam("seed", int, 0, 0, 2**31)),
             "the decoder's generation step by step", ("decoder",)),
    CellKind("temperature", tr.cell_temperature,
             (CellParam("temperatures", str, "0.5,1,2"), CellParam("top", int, 6, 1, 100)),
             "the readout distribution at several temperatures"),
)}


def check_cell_params(kind: str, raw: Mapping[str, object]) -> dict[str, Any]:
    """The typed parameters of a ``kind`` cell from ``raw`` (defaults filled in); ConfigError names an
    unknown kind, an unknown parameter or a bad value."""
    spec = CELL_KINDS.get(kind)
    if spec is None:
        raise ConfigError(f"unknown cell kind {kind!r}; known kinds: {', '.join(CELL_KINDS)}")
    known = {p.name: p for p in spec.params}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        allowed = ", ".join(known) or "none"
        raise ConfigError(f"cell {kind} has no parameter {unknown[0]!r} (its parameters: {allowed})")
    return {name: (p.coerce(raw[name]) if name in raw else p.default) for name, p in known.items()}


def default_task(model: Model) -> TaskConfig:
    """A task the model can be asked about when the caller has none: its numbers, 2–5 arguments."""
    return TaskConfig(max_value=9 if model.config.num_classes <= 10 else 99, min_args=2, max_args=5)


def compute_cell(kind: str, model: Model, expression_text: str = DEFAULT_EXPRESSION,
                 task: TaskConfig | None = None, **params: object) -> CellResult:
    """Compute the ``kind`` cell on ``model`` (only read, never written) for ``expression_text``.

    ``task`` is the model's task (parsing and sampling follow it); without one, ``default_task``.
    ``params`` may be the lesson's strings or Python values; they are checked by ``check_cell_params``.
    """
    values = check_cell_params(kind, params)
    spec = CELL_KINDS[kind]
    if model.kind not in spec.kinds:
        return not_applicable(kind, spec.summary.capitalize(), f"this cell shows {spec.summary}, and this model is "
                              f"an {model.kind}; load a {' or '.join(spec.kinds)} (e.g. decoder-0-99)")
    task = task or default_task(model)
    expression = parse_expression(expression_text, task)
    if not model.fits(expression, task):
        raise ExpressionError(f"{expression} is too long for this model", expression_text)
    ids = model.prompt_ids(expression)
    pad = int(values.pop("pad", 0))
    if len(ids) + pad > model.config.max_len:
        raise ConfigError(f"pad {pad} makes the input longer than the model's max_len {model.config.max_len}")
    inp = fw.CellInput(model, task, expression_text, expression, ids, pad)
    return spec.function(inp, **values)
