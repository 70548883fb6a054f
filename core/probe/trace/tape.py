"""A tape of ops (micrograd-style): record the forward pass, then walk it backwards.

Each ``Node`` is one op applied to named inputs, each of which is another node's output, a model
parameter (or a slice of one: Q, K and V read thirds of ``qkv.w``), or a constant (token ids, masks,
the sinusoidal table). Backward visits the nodes in reverse order: a node's gradient is complete
when it is reached, because every node that read its output came after it —

    dL/dy_node = Σ over the nodes c that read it of (c's backward rule applied to dL/dy_c)

so where a value is read twice (the residual stream: the skip path and the sublayer) the two
contributions add up. Parameter gradients add up the same way, slice by slice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from core.nn.gradcheck import numerical_gradient_at
from core.probe.trace.ops import Arrays, Op
from core.probe.trace.stage import Axis


@dataclass(frozen=True)
class Param:
    """A reference to a model parameter by name, or to the part ``index`` of it."""

    name: str
    index: tuple[slice, ...] = ()


@dataclass
class Node:
    name: str
    op: Op
    args: Arrays  # the values the op read (float64)
    sources: dict[str, Node | Param | None]  # where each came from; None: a constant
    out: np.ndarray
    title: str = ""
    axes: tuple[Axis, ...] = ()
    note: str = ""
    back_note: str = ""


@dataclass
class Step:
    """One node's backward: the upstream gradient it received and the gradients its rule gave each input."""

    node: Node
    upstream: np.ndarray
    grads: Arrays

    def param_grads(self) -> dict[str, np.ndarray]:
        return {src.name + _index_label(src.index): self.grads[arg]
                for arg, src in self.node.sources.items() if isinstance(src, Param)}


@dataclass
class Tape:
    params: Mapping[str, np.ndarray]  # float64 values by name
    nodes: list[Node] = field(default_factory=list)

    def run(self, name: str, op: Op, title: str, axes: tuple[Axis, ...] = (), note: str = "", back_note: str = "",
            **inputs: Node | Param | np.ndarray) -> Node:
        """Apply ``op`` to ``inputs`` and record it as node ``name``."""
        args: Arrays = {}
        sources: dict[str, Node | Param | None] = {}
        for arg, value in inputs.items():
            if isinstance(value, Node):
                args[arg], sources[arg] = value.out, value
            elif isinstance(value, Param):
                args[arg], sources[arg] = self.params[value.name][value.index], value
            else:
                args[arg], sources[arg] = np.asarray(value, dtype=np.float64), None
        node = Node(name, op, args, sources, op.forward(**args), title, axes, note, back_note)
        self.nodes.append(node)
        return node

    def backward(self) -> tuple[list[Step], dict[str, np.ndarray]]:
        """Backpropagate from the last node (a scalar, dL/dL = 1): the steps in reverse order, and every
        parameter's gradient (zeros for parameters this example does not reach)."""
        grad: dict[int, np.ndarray] = {id(self.nodes[-1]): np.ones(())}
        param_grads = {name: np.zeros_like(value) for name, value in self.params.items()}
        steps = []
        for node in reversed(self.nodes):
            upstream = grad.pop(id(node), None)
            if upstream is None:
                upstream = np.zeros_like(node.out)
            grads = node.op.backward(upstream, **node.args)
            for arg, src in node.sources.items():
                if isinstance(src, Node):
                    grad[id(src)] = grad[id(src)] + grads[arg] if id(src) in grad else grads[arg]
                elif isinstance(src, Param):
                    param_grads[src.name][src.index] += grads[arg]
            steps.append(Step(node, upstream, {a: g for a, g in grads.items() if node.sources[a] is not None}))
        return steps, param_grads


def check_step(step: Step, max_elements: int | None = 64, h: float = 1e-5) -> float:
    """Finite-difference check of one node alone: for each input x (and parameter) of the node,
    ∂/∂xᵢ ⟨G, f(x)⟩ ≈ ⟨G, f(x + h·eᵢ) − f(x − h·eᵢ)⟩ / 2h, against the rule's gradient. The baseline
    output is subtracted before the sum, so the entries a perturbation does not change add exact zeros.

    Returns the largest relative error over the inputs: max|analytic − numeric| of each input over its own
    gradient scale, that scale at least 1e-3 of the stage's largest (a gradient that is exactly 0 in
    theory, such as the key bias's — softmax ignores a constant added to a row — is otherwise all noise)."""
    node, g = step.node, step.upstream
    base = node.op.forward(**node.args)
    pairs = []
    for arg in step.grads:
        x = np.array(node.args[arg], dtype=np.float64, order="C", copy=True)
        flat = x.reshape(-1)
        args = {**node.args, arg: x}

        def f(args: Arrays = args) -> float:
            return float(np.sum(g * (node.op.forward(**args) - base)))

        idx = _sample(flat.size, max_elements)
        pairs.append((step.grads[arg].reshape(-1)[idx], numerical_gradient_at(f, flat, idx, h)))
    scales = [max(float(np.abs(a).max(initial=0.0)), float(np.abs(n).max(initial=0.0))) for a, n in pairs]
    floor = 1e-3 * max(scales, default=0.0)
    return max((float(np.abs(a - n).max(initial=0.0)) / max(s, floor) for (a, n), s in zip(pairs, scales, strict=True)
                if max(s, floor) > 0), default=0.0)


def _sample(n: int, k: int | None) -> np.ndarray:
    """All of 0..n−1, or ``k`` indices spread evenly over them."""
    if k is None or n <= k:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))


def _index_label(index: tuple[slice, ...]) -> str:
    if not index:
        return ""
    parts = [":" if s == slice(None) else f"{s.start or ''}:{s.stop if s.stop is not None else ''}" for s in index]
    return "[" + ", ".join(parts) + "]"
