"""What the Lab pane's thread workers do, without Textual: get a model copy from a ``ModelSource``, run a
``core.probe.lab`` tool on it, and return the result or a one-line reason (never raise).

The held-out split a checkpoint is measured on is generated without its training split
(``CheckpointModelSource.evaluation_split``): a second instead of the ~15 s the 0–99 decoder's dataset takes.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.data.batching import EncodedSplit
from core.data.expression import parse_expression
from core.errors import LLMLearnError
from core.nn.layers.hooks import Hook
from core.probe.lab.ablation import Ablation, AblationResult, HeadTable, ablation_hooks, heads_one_by_one, run_ablation
from core.probe.lab.activations import Point
from core.probe.lab.attribution import Attribution, attribute
from core.probe.lab.circuits import HeadCircuit, circuit_caption, head_circuits
from core.probe.lab.components import parse_heads, parse_neurons, parse_sublayers
from core.probe.lab.corruptions import corrupt
from core.probe.lab.patching import PatchingResult, patch
from core.probe.lab.roles import HeadRole, head_roles
from workbench.model_source import ModelSource, ProbeModel

SPLIT = "test"


def _reason(exc: Exception) -> str:
    return str(exc) if isinstance(exc, LLMLearnError) else f"{type(exc).__name__}: {exc}"


def lab_split(source: ModelSource, name: str = SPLIT) -> EncodedSplit | str:
    """The held-out split to measure on (a checkpoint's is generated without its training split)."""
    return source.evaluation_split(name)


def _model_and_split(source: ModelSource) -> tuple[ProbeModel, EncodedSplit] | str:
    probe = source.live()
    if isinstance(probe, str):
        return probe
    split = lab_split(source)
    return split if isinstance(split, str) else (probe, split)


@dataclass
class HeadAtlas:
    """Every head: its caption (attention on data), its circuits' caption and what ablating it costs."""

    label: str
    kind: str  # "encoder" or "decoder"
    operations: tuple[str, ...]
    outputs: list[str]  # what each output of the model's head stands for
    table: HeadTable
    roles: list[HeadRole]
    circuits: list[HeadCircuit]
    circuit_captions: list[str]


def head_atlas(source: ModelSource, mean: bool = False) -> HeadAtlas | str:
    try:
        got = _model_and_split(source)
        if isinstance(got, str):
            return got
        probe, split = got
        table = heads_one_by_one(probe.model, probe.task, split, SPLIT, mean=mean)
        circuits = head_circuits(probe.model, probe.task)
        roles = head_roles(probe.model, probe.task, split)
        return HeadAtlas(probe.label, probe.kind, probe.task.operations,
                         [str(o) for o in probe.model.output_labels()], table, roles,
                         circuits, [circuit_caption(c, probe.model, probe.task) for c in circuits])
    except Exception as exc:
        return _reason(exc)


def head_captions(source: ModelSource, max_examples: int = 300) -> dict[tuple[int, int], str]:
    """(layer, head) → a one-line role for every head of ``source``'s model (its attention on held-out
    data, then its circuits), for the attention view; empty when there is no model or split."""
    try:
        got = _model_and_split(source)
        if isinstance(got, str):
            return {}
        probe, split = got
        roles = head_roles(probe.model, probe.task, split, max_examples)
        circuits = head_circuits(probe.model, probe.task)
        out = {}
        for role, circuit in zip(roles, circuits, strict=True):
            extra = circuit_caption(circuit, probe.model, probe.task)
            out[(role.head.layer, role.head.head)] = role.caption + (f"; {extra}" if extra else "")
        return out
    except Exception:  # a caption is a reading aid: never let it break answering
        return {}


def parse_ablation(probe: ProbeModel, heads: str, neurons: str, sublayers: str, mean: bool) -> Ablation:
    """The ablation the form describes (empty fields: nothing of that kind); raises ``LabError``."""
    c = probe.model.config
    return Ablation(parse_heads(heads, c) if heads.strip() else (),
                    parse_neurons(neurons, c) if neurons.strip() else (),
                    parse_sublayers(sublayers, c) if sublayers.strip() else (), mean)


@dataclass
class Ablated:
    label: str
    operations: tuple[str, ...]
    result: AblationResult
    hooks: dict[Point, Hook]  # the same ablation, built for this model: what the live run gets to keep it on


def ablate(source: ModelSource, heads: str, neurons: str, sublayers: str, mean: bool) -> Ablated | str:
    try:
        got = _model_and_split(source)
        if isinstance(got, str):
            return got
        probe, split = got
        ablation = parse_ablation(probe, heads, neurons, sublayers, mean)
        result = run_ablation(probe.model, probe.task, split, ablation, SPLIT)
        hooks: dict[Point, Hook] = dict(ablation_hooks(probe.model, ablation, split)) if not ablation.empty else {}
        return Ablated(probe.label, probe.task.operations, result, hooks)
    except Exception as exc:
        return _reason(exc)


@dataclass
class Patched:
    label: str
    result: PatchingResult
    how: str  # the corruption's description, or "typed"


def patching(source: ModelSource, clean: str, corrupted: str, corruption: str | None) -> Patched | str:
    try:
        probe = source.live()
        if isinstance(probe, str):
            return probe
        how = "typed"
        if not corrupted.strip():
            made = corrupt(parse_expression(clean, probe.task), probe.task, corruption)
            corrupted, how = str(made.expression), made.description
        return Patched(probe.label, patch(probe.model, probe.task, clean, corrupted), how)
    except Exception as exc:
        return _reason(exc)


def attribution(source: ModelSource, text: str) -> tuple[str, Attribution] | str:
    try:
        probe = source.live()
        if isinstance(probe, str):
            return probe
        return probe.label, attribute(probe.model, probe.task, text)
    except Exception as exc:
        return _reason(exc)
