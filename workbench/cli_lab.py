"""The Lab on the command line: ablation, activation patching, direct logit attribution and circuits.

    workbench ablate NAME [--heads 0.1,1.3] [--neurons 1:top8] [--sublayers 0.attn] [--mean]
    workbench ablate NAME --all-heads-one-by-one [--mean]
    workbench patch NAME "Max(3, 7, 2)" ["Max(3, 0, 2)"] [--corruption change-answer]
    workbench attribute NAME "Max(3, 7, 2)"
    workbench circuits NAME

A head is ``layer.head``, both counted from 0 as in the parameter names (``blocks.0…``). Like ``eval`` they
use the test split by default (``--split``); each takes ``--json``. The text renderers are Textual-free, for
the app's Lab view to reuse.
"""

from __future__ import annotations

import argparse
import json
import textwrap
from typing import Any, TextIO

import numpy as np

from core.data.answer_format import format_answer
from core.data.batching import EncodedSplit
from core.data.expression import parse_expression
from core.data.task import TaskConfig
from core.data.vocab import VOCAB
from core.errors import LabError
from core.probe.lab.ablation import Ablation, AblationResult, HeadTable, heads_one_by_one, run_ablation
from core.probe.lab.attribution import Attribution, attribute
from core.probe.lab.circuits import circuit_caption, head_circuits
from core.probe.lab.components import parse_heads, parse_neurons, parse_sublayers
from core.probe.lab.corruptions import NAMES as CORRUPTIONS
from core.probe.lab.corruptions import corrupt
from core.probe.lab.patching import PatchingResult, patch
from core.probe.lab.roles import head_roles
from core.train.checkpoint import Checkpoint, read_checkpoint
from core.train.held_out import held_out_split
from core.train.slices import worst_slices

COMMANDS = ("ablate", "patch", "attribute", "circuits")
HEAD_HELP = "layer.head, both counted from 0 as in the parameter names (blocks.0…): e.g. 0.1,1.3; or all"


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown, descriptions kept as written."""


def _split_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--split", choices=("val", "test"), default="test", help="the held-out split to measure on")


def add_parsers(sub: Any) -> None:
    """Register the Lab's commands on the ``workbench`` command's subparsers."""
    a = sub.add_parser("ablate", formatter_class=_Formatter,
                       help="switch heads, neurons or sublayers off and measure what accuracy loses",
                       description="Ablation is a mask in the forward pass: the saved weights never change.")
    a.add_argument("name", help="a saved or shipped model")
    a.add_argument("--heads", help=HEAD_HELP)
    a.add_argument("--neurons", help="feed-forward neurons, layer:n, layer:a-b or layer:topk (the most active), "
                                     "comma-separated: e.g. 1:7,1:10-20,0:top8")
    a.add_argument("--sublayers", help="whole sublayers, layer.attn or layer.ffn: e.g. 0.attn,1.ffn")
    a.add_argument("--mean", action="store_true",
                   help="replace by the mean activation over the split (mean ablation) instead of zero")
    a.add_argument("--all-heads-one-by-one", action="store_true",
                   help="a table of every head ablated alone: accuracy and answer-margin drop by operation")
    _split_option(a)
    a.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("patch", formatter_class=_Formatter,
                       help="patch activations of a clean input into a corrupted one: where is the answer?",
                       description="Recovered fraction of the clean-vs-corrupted logit difference for every "
                                   "residual (layer, position) and every head. Both inputs need the same length.")
    p.add_argument("name", help="a saved or shipped model")
    p.add_argument("clean", help='the clean input, e.g. "Max(3, 7, 2)"')
    p.add_argument("corrupt", nargs="?", help="the corrupted input (default: made from the clean one)")
    p.add_argument("--corruption", choices=CORRUPTIONS, help="which automatic corruption (default: the first "
                                                             "that changes the answer)")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    t = sub.add_parser("attribute", formatter_class=_Formatter,
                       help="direct logit attribution: how much each head and FFN pushes the answer's logit")
    t.add_argument("name", help="a saved or shipped model (pre-LN)")
    t.add_argument("expression", help='e.g. "Max(3, 7, 2)"')
    t.add_argument("--json", action="store_true", help="print one JSON object")

    c = sub.add_parser("circuits", formatter_class=_Formatter,
                       help="what each head does: a caption from its attention and its QK/OV circuits")
    c.add_argument("name", help="a saved or shipped model")
    _split_option(c)
    c.add_argument("--json", action="store_true", help="print one JSON object (with the QK and OV matrices)")


def run(a: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    ck = read_checkpoint(a.name)
    if a.command == "ablate":
        return _ablate(a, ck, out)
    if a.command == "patch":
        return _patch(a, ck, out)
    if a.command == "attribute":
        return _attribute(a, ck, out)
    return _circuits(a, ck, out)


def _split(ck: Checkpoint, name: str) -> EncodedSplit:
    return held_out_split(ck.config, name)


# -- ablate -------------------------------------------------------------------------------------------------
def _ablate(a: argparse.Namespace, ck: Checkpoint, out: TextIO) -> int:
    model, task = ck.build_model(), ck.config.dataset.task
    split = _split(ck, a.split)
    if a.all_heads_one_by_one:
        if a.heads or a.neurons or a.sublayers:
            raise LabError("--all-heads-one-by-one ablates each head alone: leave out --heads, --neurons "
                           "and --sublayers")
        table = heads_one_by_one(model, task, split, a.split, mean=a.mean)
        out.write(json.dumps({"model": a.name, **table.to_dict(), "accuracy": table.baseline.accuracy}) + "\n"
                  if a.json else render_head_table(table, a.name, task))
        return 0
    c = model.config
    ablation = Ablation(parse_heads(a.heads, c) if a.heads else (), parse_neurons(a.neurons, c) if a.neurons else (),
                        parse_sublayers(a.sublayers, c) if a.sublayers else (), a.mean)
    result = run_ablation(model, task, split, ablation, a.split)
    out.write(json.dumps({"model": a.name, **result.to_dict()}) + "\n" if a.json
              else render_ablation(result, a.name, task))
    return 0


def _text(lines: list[str]) -> str:
    """The lines, each longer than 80 columns wrapped (tables are built to fit)."""
    out: list[str] = []
    for line in lines:
        indent = " " * (len(line) - len(line.lstrip()))
        out += textwrap.wrap(line, 80, initial_indent="", subsequent_indent=indent + "  ") if len(line) > 80 \
            else [line]
    return "\n".join(out) + "\n"


def _ops(values: dict[str, float]) -> str:
    return "  ".join(f"{op} {v:.1%}" for op, v in values.items())


def render_ablation(r: AblationResult, name: str, task: TaskConfig) -> str:
    lines = [f"{name} · {task.describe()} · {r.split} ({r.n:,} examples)",
             f"baseline:  accuracy {r.baseline.accuracy:.2%}   {_ops(r.baseline.by_operation)}"]
    if r.ablation.empty:
        lines.append("nothing ablated (give --heads, --neurons or --sublayers, or --all-heads-one-by-one)")
        return _text(lines)
    lines.append(f"ablated {r.ablation.describe()}:")
    change = (r.ablated.accuracy - r.baseline.accuracy) * 100
    lines.append(f"           accuracy {r.ablated.accuracy:.2%} ({change:+.1f} points)   "
                 f"{_ops(r.ablated.by_operation)}")
    margins = "  ".join(f"{op} {r.ablated.margin_by_operation[op] - v:+.2f}"
                        for op, v in r.baseline.margin_by_operation.items())
    lines.append(f"answer margin change (logits): {margins}")
    worst = next(iter(worst_slices(r.ablated.slices, 1)), None)
    if worst is not None:
        lines.append(f"lowest slice: {worst.title} at {worst.accuracy:.1%} ({worst.correct:,}/{worst.n:,})")
    lines.append("the weights are unchanged: the ablation is a mask in the forward pass")
    return _text(lines)


def render_head_table(table: HeadTable, name: str, task: TaskConfig) -> str:
    ops = list(task.operations)
    kind = "mean" if table.mean else "zero"
    drops, margins = table.drops(ops), table.margin_drops(ops)
    lines = [f"{name} · {task.describe()} · {table.split} ({table.n:,} examples)",
             f"each head switched off alone ({kind} ablation): accuracy drop in points / answer-margin drop in "
             "logits", f"baseline accuracy {table.baseline.accuracy:.2%}", "",
             "head  " + "".join(f"{op:>11}" for op in ops) + f"{'all':>8}"]
    for e, row, mrow in zip(table.effects, drops, margins, strict=True):
        cells = "".join(f"{d * 100:>5.1f}/{m:<5.2f}" for d, m in zip(row[:-1], mrow, strict=True))
        lines.append(f"{e.head!s:<6}{cells}{row[-1] * 100:>8.1f}")
    col = margins.sum(axis=1)
    top = table.effects[int(np.argmax(col))].head
    lines += ["", f"the answers depend most on head {top} (largest margin drop over all operations)"]
    return _text(lines)


# -- patch ------------------------------------------------------------------------------------------------
def _patch(a: argparse.Namespace, ck: Checkpoint, out: TextIO) -> int:
    model, task = ck.build_model(), ck.config.dataset.task
    corrupted = a.corrupt
    made = None
    if corrupted is None:
        made = corrupt(parse_expression(a.clean, task), task, a.corruption)
        corrupted = str(made.expression)
    elif a.corruption:
        raise LabError("give either a corrupted input or --corruption, not both")
    result = patch(model, task, a.clean, corrupted)
    if a.json:
        out.write(json.dumps({"model": a.name, "corruption": made.name if made else "typed",
                              **result.to_dict()}) + "\n")
    else:
        out.write(render_patching(result, a.name, made.description if made else "typed"))
    return 0


def render_patching(r: PatchingResult, name: str, how: str) -> str:
    lines = [f"{name}: clean {r.clean} = {format_answer(r.clean_answer)}, corrupted {r.corrupt} = "
             f"{format_answer(r.corrupt_answer)} ({how})",
             f"logit difference {r.compared[0]} − {r.compared[1]} at position {r.position}: clean "
             f"{r.clean_difference:+.2f}, corrupted {r.corrupt_difference:+.2f}",
             "share of it recovered by patching the clean activation into the corrupted run (1 = all):", "",
             "residual stream (rows: positions; columns: the embeddings, then after each block)",
             "pos token   " + "".join(f"{'embed' if i == 0 else f'block {i - 1}':>8}"
                                      for i in range(len(r.residual_labels)))]
    for t, (tok, tok2) in enumerate(zip(r.tokens, r.corrupt_tokens, strict=True)):
        mark = tok if tok == tok2 else f"{tok}/{tok2}"
        lines.append(f"{t:>3} {mark:<8}" + "".join(f"{_fraction(v):>8}" for v in r.residual[:, t]))
    lines += ["", "heads (rows: layers, columns: heads)",
              "layer " + "".join(f"{h:>7}" for h in range(r.heads.shape[1]))]
    for layer, row in enumerate(r.heads):
        lines.append(f"{layer:>5} " + "".join(f"{_fraction(v):>7}" for v in row))
    best = np.unravel_index(int(np.argmax(r.heads)), r.heads.shape)
    lines.append(f"\nhead {best[0]}.{best[1]} alone recovers {r.heads[best]:.0%} of the difference")
    return _text(lines)


def _fraction(v: float) -> str:
    """Two decimals, never "-0.00"."""
    return f"{round(float(v), 2) + 0.0:.2f}"


# -- attribute --------------------------------------------------------------------------------------------
def _attribute(a: argparse.Namespace, ck: Checkpoint, out: TextIO) -> int:
    result = attribute(ck.build_model(), ck.config.dataset.task, a.expression)
    out.write(json.dumps({"model": a.name, **result.to_dict()}) + "\n" if a.json
              else render_attribution(result, a.name))
    return 0


def render_attribution(r: Attribution, name: str) -> str:
    lines = [f"{name}: {r.text} → logit of {r.target} at position {r.position}: {r.logit:.3f}",
             f"({r.note})", ""]
    biggest = max((abs(v) for _, v in r.components), default=1.0) or 1.0
    for comp, v in sorted(r.components, key=lambda kv: -abs(kv[1])):
        bar = "█" * max(0, round(abs(v) / biggest * 24))
        lines.append(f"  {comp:<34} {v:>8.3f}  {'-' if v < 0 else ' '}{bar}")
    lines.append(f"  {'total':<34} {r.total:>8.3f}")
    return _text(lines)


# -- circuits ---------------------------------------------------------------------------------------------
def _circuits(a: argparse.Namespace, ck: Checkpoint, out: TextIO) -> int:
    model, task = ck.build_model(), ck.config.dataset.task
    roles = head_roles(model, task, _split(ck, a.split))
    circuits = head_circuits(model, task)
    captions = [circuit_caption(c, model, task) for c in circuits]
    if a.json:
        heads = [{**r.to_dict(), **c.to_dict(), "circuit_caption": cap}
                 for r, c, cap in zip(roles, circuits, captions, strict=True)]
        tokens = list(VOCAB.tokens[: model.config.vocab_size])
        out.write(json.dumps({"model": a.name, "split": a.split, "tokens": tokens,
                              "outputs": [str(o) for o in model.output_labels()], "heads": heads}) + "\n")
        return 0
    lines = [f"{a.name} · {task.describe()}",
             f"what each head does: its attention from the answer position on the {a.split} split, then its",
             "QK/OV circuits over the vocabulary (direct path)", ""]
    for r, cap in zip(roles, captions, strict=True):
        lines += textwrap.wrap(f"head {r.head}: {r.caption}", 80, subsequent_indent=" " * 10)
        if cap:
            lines += textwrap.wrap(cap, 80, initial_indent=" " * 10, subsequent_indent=" " * 10)
    lines += ["", "a caption says where a head looks; whether the answers need it:",
              f"  workbench ablate {a.name} --all-heads-one-by-one"]
    out.write(_text(lines))
    return 0
