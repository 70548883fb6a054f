"""What the trace shows: a list of stages, each one step of the computation with its real numbers.

A ``Stage`` is what a step debugger pages through: a stable ``name`` (``blocks.0.attn.scores``), a
human ``title``, the one-line ``formula``, the ``values`` (float64, any shape) with a label per axis,
and a ``note`` saying why; a forward stage keeps the ``inputs`` its op read (LayerNorm's x, the mask M
added to the scores, the position table P). A backward stage adds the ``upstream`` gradient it received, its local
``rule``, the gradients it sends on (``grads``, by input), the gradients of its parameters, and
``check()``: a finite-difference check of that stage alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from core.data.operations import Answer
from core.train.checkpoint.format import json_safe

if TYPE_CHECKING:
    from core.probe.trace.update import UpdateTrace


@dataclass(frozen=True)
class Axis:
    """One axis of a stage's values: its name and, where they mean something, a label per index
    (the tokens along a position axis, ``h0``… along a head axis)."""

    name: str
    labels: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "labels": None if self.labels is None else list(self.labels)}


@dataclass
class Stage:
    name: str
    title: str
    formula: str
    values: np.ndarray
    axes: tuple[Axis, ...] = ()
    note: str = ""
    inputs: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # forward: the op's arguments, by name
    # -- backward stages only --
    rule: str = ""
    upstream: np.ndarray | None = None  # dL/d(this stage's output), labelled by ``upstream_axes``
    upstream_axes: tuple[Axis, ...] = ()
    grads: dict[str, np.ndarray] = field(default_factory=dict)  # dL/d each input from an earlier stage, by argument
    param_grads: dict[str, np.ndarray] = field(default_factory=dict)  # dL/d parameter (or its slice), by name
    checker: Callable[[int | None], float] | None = field(default=None, repr=False)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.values.shape)

    @property
    def checkable(self) -> bool:
        return self.checker is not None

    def check(self, max_elements: int | None = 64) -> float:
        """Finite-difference check of this stage alone: perturb each of its inputs and parameters (at most
        ``max_elements`` entries of each, spread evenly; None = all), recompute just this stage's forward,
        and compare ⟨upstream, Δy⟩/2h with the analytic gradient. Returns the largest relative error."""
        if self.checker is None:
            raise ValueError(f"stage {self.name!r} has no gradient to check")
        return self.checker(max_elements)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "title": self.title, "formula": self.formula,
                               "shape": list(self.shape), "values": to_list(self.values),
                               "axes": [a.to_dict() for a in self.axes], "note": self.note}
        if self.upstream is not None:
            out["rule"] = self.rule
            out["upstream"] = to_list(self.upstream)
            out["grads"] = {k: to_list(v) for k, v in self.grads.items()}
            out["param_grads"] = {k: to_list(v) for k, v in self.param_grads.items()}
        return out


def to_list(values: np.ndarray) -> Any:
    """Nested lists of Python floats (a 0-d array gives a float); NaN and ±inf, which JSON lacks, become None."""
    arr = np.asarray(values, dtype=np.float64)
    return arr.tolist() if np.all(np.isfinite(arr)) else json_safe(arr.tolist())


@dataclass
class Trace:
    """One example through the model: ``forward`` stages (ending with ``logits`` and ``probabilities``),
    the ``loss``, the ``backward`` stages in reverse order, the summed parameter gradients, and the
    optimizer's ``update`` of one parameter (see ``core.probe.trace.update``)."""

    kind: str
    expression: str
    tokens: list[str]
    truth: Answer
    answer: Answer | None  # the model's answer read from the trace (decoder: teacher-forced argmax digits)
    forward: list[Stage]
    loss: Stage
    backward: list[Stage]
    param_grads: dict[str, np.ndarray]
    update: UpdateTrace | None = None

    @property
    def loss_value(self) -> float:
        return float(self.loss.values)

    def pages(self) -> list[tuple[str, Stage]]:
        """Every stage in reading order with its section ("forward", "loss", "backward", "update"):
        what a step debugger moves through one at a time."""
        pages = [("forward", s) for s in self.forward] + [("loss", self.loss)]
        pages += [("backward", s) for s in self.backward]
        if self.update is not None:
            pages += [("update", s) for s in self.update.stages]
        return pages

    def find(self, prefix: str, start: int = 0) -> int | None:
        """Index in ``pages()`` of the first stage at or after ``start`` whose name starts with ``prefix``."""
        for i, (_, stage) in enumerate(self.pages()):
            if i >= start and stage.name.startswith(prefix):
                return i
        return None

    def stage(self, name: str, section: str = "forward") -> Stage:
        for sec, s in self.pages():
            if sec == section and s.name == name:
                return s
        raise KeyError(f"no {section} stage named {name!r}")

    def to_dict(self, only: Sequence[str] | None = None) -> dict[str, Any]:
        """Plain JSON data; ``only`` keeps the stages whose name starts with one of its prefixes."""
        def keep(s: Stage) -> bool:
            return only is None or any(s.name.startswith(p) for p in only)

        return {"kind": self.kind, "expression": self.expression, "tokens": self.tokens, "truth": self.truth,
                "answer": self.answer, "loss": self.loss.to_dict(),
                "forward": [s.to_dict() for s in self.forward if keep(s)],
                "backward": [s.to_dict() for s in self.backward if keep(s)],
                "update": None if self.update is None else self.update.to_dict()}


@dataclass
class ForwardTrace:
    """The forward stages alone of one input (no loss, backward or update), looked up by name: what the
    lessons' live cells read. Shapes are one example's: x (T, d), per head (H, T, dₕ), attention (H, T, T);
    the encoder's logits (C,) at position 0, the decoder's (T, V) at every position."""

    tokens: list[str]
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(f"no forward stage named {name!r}")

    def values(self, name: str) -> np.ndarray:
        return self.stage(name).values

    def block(self, layer: int, name: str) -> np.ndarray:
        """The values of stage ``blocks.{layer}.{name}`` (``attn.q``, ``attn.softmax``, ``ffn.fc1`` …)."""
        return self.values(f"blocks.{layer}.{name}")

    @property
    def n_blocks(self) -> int:
        return len({s.name.split(".")[1] for s in self.stages if s.name.startswith("blocks.")})

    @property
    def stream(self) -> list[np.ndarray]:
        """The residual stream h₀ = E[ids] + P, then each block's output h₁ … h_L (its last stage:
        the FFN's residual in pre-LN, LN₂ after it in post-LN)."""
        outs = [[s for s in self.stages if s.name.startswith(f"blocks.{i}.")][-1].values for i in range(self.n_blocks)]
        return [self.values("positions"), *outs]
