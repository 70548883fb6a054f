"""``workbench trace NAME EXPR``: the step debugger, headless — every stage of one example printed.

    workbench trace encoder-digits "Max(3, 7, 2)"              forward, loss, backward, optimizer update
    workbench trace NAME EXPR --stage blocks.0.attn            only the stages whose name starts so
    workbench trace NAME EXPR --param head.w --check           the update of head.w; check each backward stage
    workbench trace NAME EXPR --json                           every stage with its full values

The text renderer (``format_stage``, ``format_values``) is Textual-free, for the app's view to reuse.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any, TextIO

import numpy as np

from core.data.answer_format import format_answer
from core.nn.layers.attention import MASK_VALUE
from core.probe.trace import Axis, Stage, Trace, trace_checkpoint
from core.train.checkpoint import read_checkpoint

MAX_ROWS, MAX_COLS, MAX_SLICES = 8, 8, 2
CHECK_ELEMENTS = 64  # finite-difference entries per input of a stage (spread evenly) with --check


def add_parser(sub: Any) -> None:
    """Register ``trace`` on the ``workbench`` command's subparsers."""
    tr = sub.add_parser("trace", help="step through one example: forward, loss, backward, optimizer update")
    tr.add_argument("name", help="a saved or shipped model")
    tr.add_argument("expression", help='e.g. "Max(3, 7, 2)"')
    tr.add_argument("--stage", action="append", metavar="PREFIX",
                    help="show only stages whose name starts with PREFIX (e.g. blocks.0.attn; repeatable)")
    tr.add_argument("--param", metavar="NAME",
                    help="parameter whose optimizer update is shown (default: the one with the largest gradient)")
    tr.add_argument("--check", action="store_true",
                    help="run each backward stage's own finite-difference check (float64) and print its error")
    tr.add_argument("--json", action="store_true", help="print every stage with its full values as JSON")


def cmd_trace(a: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    ck = read_checkpoint(a.name)
    trace = trace_checkpoint(ck, a.expression, param=a.param)
    only: Sequence[str] | None = a.stage
    if a.json:
        data = {"model": a.name, **trace.to_dict(only)}
        if a.check:
            kept = [s for s in trace.backward if only is None or any(s.name.startswith(p) for p in only)]
            for d, s in zip(data["backward"], kept, strict=True):
                d["check"] = s.check(CHECK_ELEMENTS)
        out.write(json.dumps(data) + "\n")
        return 0
    out.write(render_trace(trace, a.name, only, a.check) + "\n")
    return 0


# -- text ----------------------------------------------------------------------------------------------
def render_trace(trace: Trace, name: str, only: Sequence[str] | None = None, check: bool = False) -> str:
    def keep(s: Stage) -> bool:
        return only is None or any(s.name.startswith(p) for p in only)

    lines = [f"{name} · {trace.kind} · {trace.expression} = {format_answer(trace.truth)} · model's answer "
             f"{'none' if trace.answer is None else format_answer(trace.answer)} · loss {trace.loss_value:.4g}",
             "tokens: " + " ".join(trace.tokens)]
    fwd = [s for s in trace.forward if keep(s)]
    lines += ["", f"══ forward ({len(fwd)} of {len(trace.forward)} stages) ══"]
    for i, s in enumerate(fwd):
        lines += format_stage(s, f"F{i + 1}")
    lines += ["", "══ loss ══", *format_stage(trace.loss, "L")]
    back = [s for s in trace.backward if keep(s)]
    lines += ["", f"══ backward ({len(back)} of {len(trace.backward)} stages, last forward stage first) ══"]
    for i, s in enumerate(back):
        lines += format_stage(s, f"B{i + 1}")
        if check:
            lines.append(f"    check: max relative error {s.check(CHECK_ELEMENTS):.2e} (finite differences, float64)")
    u = trace.update
    if u is not None:
        settings = ", ".join(f"{k} {v:g}" for k, v in u.settings.items())
        lines += ["", f"══ update of {u.param} · {u.optimizer} step {u.step} · lr {u.lr:.4g} · {settings} ══"]
        for i, s in enumerate(u.stages):
            lines += format_stage(s, f"U{i + 1}")
    return "\n".join(lines)


def format_stage(s: Stage, label: str) -> list[str]:
    """A header line (label, title, name, formula, shape), the values truncated, the note; a backward
    stage also shows its rule, the upstream gradient and its parameter gradients' norms."""
    shape = "×".join(str(n) for n in s.shape) or "scalar"
    lines = [f"[{label}] {s.title}  ({s.name})  {s.formula}  · {shape}"]
    if s.upstream is not None:
        lines.append(f"    rule: {s.rule}")
        lines.append("    upstream G:")
        lines += ["      " + r for r in format_values(s.upstream, s.upstream_axes)]
        lines.append("    gradient out:")
    lines += ["      " + r for r in format_values(s.values, s.axes)]
    for arg, g in list(s.grads.items())[1:]:  # a second input (residual: the sublayer; scores: K; …)
        lines.append(f"    and d{arg}  {'×'.join(map(str, g.shape))}  ‖g‖ = {float(np.linalg.norm(g)):.3g}")
    for pname, g in s.param_grads.items():
        lines.append(f"    d{pname}  {'×'.join(map(str, g.shape))}  ‖g‖ = {float(np.linalg.norm(g)):.3g}")
    if s.note:
        lines.append(f"    · {s.note}")
    return lines


def format_values(values: np.ndarray, axes: Sequence[Axis] = (), max_rows: int = MAX_ROWS,
                  max_cols: int = MAX_COLS, max_slices: int = MAX_SLICES) -> list[str]:
    """A scalar, a row, a matrix, or the first ``max_slices`` matrices of a 3-D array, each at most
    ``max_rows`` × ``max_cols`` (the first ones, "…", the last), 3 significant digits; masked −1e9 as −∞."""
    v = np.asarray(values, dtype=np.float64)
    axes = tuple(axes) if len(axes) == v.ndim else (Axis("?"),) * v.ndim
    if v.ndim == 0:
        return [_num(float(v))]
    if v.ndim == 1:
        return _matrix(v[None, :], None, axes[0], max_rows, max_cols)
    if v.ndim == 2:
        return _matrix(v, axes[0], axes[1], max_rows, max_cols)
    lead = v.reshape(-1, *v.shape[-2:])
    labels = axes[0].labels if v.ndim == 3 else None
    lines: list[str] = []
    for k in range(min(max_slices, lead.shape[0])):
        lines.append(f"[{axes[0].name} {labels[k] if labels else k}]")
        lines += _matrix(lead[k], axes[-2], axes[-1], max_rows, max_cols)
    if lead.shape[0] > max_slices:
        lines.append(f"… {lead.shape[0] - max_slices} more {axes[0].name}s")
    return lines


def _keep(n: int, limit: int) -> list[int | None]:
    """Indices shown of n: all, or the first limit−2, None (for "…"), and the last."""
    if n <= limit:
        return list(range(n))
    return [*range(limit - 2), None, n - 1]


def _num(x: float) -> str:
    if x <= MASK_VALUE / 2:
        return "−∞"
    return "0" if x == 0 else f"{x:.3g}"


def _matrix(m: np.ndarray, row_axis: Axis | None, col_axis: Axis, max_rows: int, max_cols: int) -> list[str]:
    rows, cols = _keep(m.shape[0], max_rows), _keep(m.shape[1], max_cols)
    col_labels = col_axis.labels
    header = [("…" if j is None else (col_labels[j][:7] if col_labels else str(j))) for j in cols]
    body = [[("⋮" if i is None else "…" if j is None else _num(float(m[i, j]))) for j in cols] for i in rows]
    width = max(len(c) for c in [*header, *(c for r in body for c in r)])
    row_labels = row_axis.labels if row_axis is not None else None
    names = ["" if i is None else (row_labels[i][:8] if row_labels else str(i)) for i in rows] \
        if row_axis is not None else [""]
    lw = max(len(n) for n in names)
    lines = [" " * lw + ("  " if lw else "") + " ".join(h.rjust(width) for h in header)]
    for name, row in zip(names, body, strict=True):
        lines.append(name.ljust(lw) + ("  " if lw else "") + " ".join(c.rjust(width) for c in row))
    return lines
