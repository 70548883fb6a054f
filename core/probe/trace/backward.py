"""The backward pass, stage by stage in reverse: what each stage received, its rule, what it sends on.

For a stage y = f(x, θ) and the upstream gradient G = dL/dy, the stage's local rule gives
dL/dx = (∂f/∂x)ᵀ G (sent on to whatever produced x) and dL/dθ = (∂f/∂θ)ᵀ G (the parameter's gradient).
Each stage carries ``check()``, which verifies exactly that rule by finite differences of this stage
alone (``core.probe.trace.tape.check_step``), so a wrong rule is pinned to the stage that has it.
"""

from __future__ import annotations

from functools import partial

from core.data.vocab import VOCAB
from core.probe.trace.stage import Axis, Stage
from core.probe.trace.tape import Node, Param, Step, check_step


def backward_stages(steps: list[Step]) -> list[Stage]:
    """One ``Stage`` per step (already in reverse order): ``values`` is the gradient sent to the stage's
    main input (its first input that came from another stage; the embedding's own table otherwise)."""
    return [_stage(step) for step in steps]


def _stage(step: Step) -> Stage:
    node = step.node
    main = next((a for a in step.grads if isinstance(node.sources[a], Node)), None)
    if main is None:  # the embedding: nothing before it but the token ids
        main = next(iter(step.grads))
    src = node.sources[main]
    if isinstance(src, Node):
        axes, into = src.axes, f"d {src.name}"
    elif isinstance(src, Param) and src.name == "embed.weight":
        rows = len(step.grads[main])  # the model's vocabulary: a prefix of VOCAB
        axes, into = (Axis("token", VOCAB.tokens[:rows]), Axis("feature")), "d embed.weight"
    else:
        axes, into = (), f"d {main}"
    note = node.back_note or _default_note(node, main)
    return Stage(name=node.name, title=f"∂ {node.title} → {into}", formula=node.op.formula, values=step.grads[main],
                 axes=axes, note=note, rule=node.op.rule, upstream=step.upstream, upstream_axes=node.axes,
                 grads={a: g for a, g in step.grads.items() if isinstance(node.sources[a], Node)},
                 param_grads=step.param_grads(), checker=partial(check_step, step))


def _default_note(node: Node, main: str) -> str:
    if node.name == "loss":
        return "the start of the backward pass: dL/dL = 1; the loss sends p − q to the scored logits"
    params = [src.name for src in node.sources.values() if isinstance(src, Param)]
    if params:
        return f"upstream G = dL/d({node.name}); the rule gives dL/d{main} and the gradients of {', '.join(params)}"
    return f"upstream G = dL/d({node.name}); no parameters here, only the gradient passed on to {main}"
