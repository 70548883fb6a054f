"""The step debugger's text, without Textual: computing a trace from a model source, and the words and
tables of one stage page. ``workbench.screens.trace`` shows them; the tables are ``format_values`` of
``workbench.cli_trace`` (3 significant digits, "…" where rows or columns are left out), sized here to
the width there is.

Which optimizer the update page shows: a checkpoint's own (its saved state, settings and learning rate,
as ``trace_checkpoint`` restores them); the live run's, read under the session lock while it is paused;
a fresh Adam for any other source.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rich.cells import cell_len
from rich.text import Text

from core.data.answer_format import format_answer
from core.errors import LLMLearnError
from core.probe.trace import Axis, Stage, Trace, trace_checkpoint, trace_expression
from workbench.cli_trace import format_values
from workbench.model_source import CheckpointModelSource, ModelSource, SessionModelSource

SECTION_MARK = {"forward": "F", "loss": "L", "backward": "B", "update": "U"}
SECTION_TITLE = {"forward": "forward", "loss": "loss", "backward": "backward (last stage first)",
                 "update": "optimizer update"}
MAX_ROWS = 24  # rows of a table before "⋮" (every position of the longest expressions fits)
PARAM_ROWS = 4  # rows of each parameter gradient's table on a backward page
CHECK_OK = 1e-6  # a stage's finite-difference check passes below this relative error
CHECK_ELEMENTS = 64  # entries perturbed per input of a stage (spread evenly)
UPDATE_ELEMENTS = 6  # entries of the parameter followed through the update, the largest |g| first
UPDATE_KEYS = (("w", "w"), ("g", "g"), ("m", "m"), ("v", "v"), ("m_hat", "m̂"), ("v_hat", "v̂"),
               ("velocity", "v"), ("step", "step"))


def compute_trace(source: ModelSource, text: str, param: str | None = None) -> Trace:
    """The trace of ``text`` on the model ``source`` gives (blocks: call it from a thread worker).
    Raises ``LLMLearnError`` with a one-line reason for whatever the learner can cause."""
    if isinstance(source, CheckpointModelSource):
        return trace_checkpoint(source.checkpoint(), text, param=param)
    if isinstance(source, SessionModelSource):
        reason = source.unavailable()
        session = source.session()
        if reason or session is None:
            raise LLMLearnError(reason or "no training run yet")
        with session.lock:  # the weights and optimizer state of one step, never half of the next
            run = session.run
            tr = run.trainer
            return trace_expression(run.model, run.config.dataset.task, text, optimizer=tr.optimizer,
                                    lr=tr.current_lr(), clip_norm=tr.clip_norm, param=param,
                                    label_smoothing=tr.label_smoothing)
    got = source.live()
    if isinstance(got, str):
        raise LLMLearnError(got)
    return trace_expression(got.model, got.task, text, param=param)


def page_labels(trace: Trace) -> list[str]:
    """"F3", "L", "B12", "U1"… for each page, numbered within its section."""
    counts: dict[str, int] = {}
    labels = []
    for section, _ in trace.pages():
        counts[section] = counts.get(section, 0) + 1
        labels.append("L" if section == "loss" else f"{SECTION_MARK[section]}{counts[section]}")
    return labels


def section_start(trace: Trace, section: str) -> int | None:
    return next((i for i, (sec, _) in enumerate(trace.pages()) if sec == section), None)


def shape_text(values: np.ndarray, axes: Sequence[Axis] = ()) -> str:
    """"4 × 8 × 8 (head × query × key)", "scalar"."""
    shape = tuple(int(n) for n in np.shape(values))
    if not shape:
        return "scalar"
    dims = " × ".join(str(n) for n in shape)
    names = [a.name for a in axes] if len(axes) == len(shape) else []
    return f"{dims} ({' × '.join(names)})" if names else dims


def fitted_values(values: np.ndarray, axes: Sequence[Axis], width: int, max_rows: int = MAX_ROWS,
                  all_slices: bool = True) -> list[str]:
    """``format_values`` with as many columns as fit in ``width`` characters (at least 3)."""
    v = np.asarray(values)
    slices = max(1, int(np.prod(v.shape[:-2]))) if v.ndim > 2 and all_slices else 2
    cols = v.shape[-1] if v.ndim else 1
    lines: list[str] = []
    for max_cols in range(min(cols, 40), 2, -1):
        lines = format_values(v, axes, max_rows=max_rows, max_cols=max_cols, max_slices=slices)
        if max(len(line) for line in lines) <= width:
            return lines
    return lines or format_values(v, axes, max_rows=max_rows, max_cols=3, max_slices=slices)


def trace_header(trace: Trace, model: str) -> str:
    answer = "none" if trace.answer is None else format_answer(trace.answer)
    mark = "✓" if trace.answer == trace.truth else "✗"
    return (f"Trace · {model} · {trace.expression} = {format_answer(trace.truth)} · answer {answer} {mark} · "
            f"loss {trace.loss_value:.3g}")


def trace_context(trace: Trace) -> Text:
    """The tokens the model reads; for a decoder, which positions the loss scores (teacher forcing)."""
    out = Text()
    if trace.kind != "decoder":
        out.append("reads ", style="dim")
        out.append(" ".join(trace.tokens))
        out.append(" · scored once: the answer class", style="dim")
        return out
    try:
        weights = trace.stage("loss_mask").values
    except KeyError:
        weights = np.zeros(len(trace.tokens))
    out.append("teacher-forced input ", style="dim")
    for t, tok in enumerate(trace.tokens):
        if t:
            out.append(" ")
        out.append(tok, style="bold reverse" if t < len(weights) and weights[t] > 0 else "")
    out.append(" · scored (loss mask): ", style="dim")
    out.append(", ".join(f"{t}:{tok}" for t, tok in enumerate(trace.tokens) if t < len(weights) and weights[t] > 0))
    return out


def stage_text(trace: Trace, index: int, width: int, check: str | float | None = None) -> Text:
    """Page ``index`` of ``trace.pages()`` at ``width`` columns: title, name, formula, shape and axes, note,
    the values; a backward stage adds its rule, upstream gradient, gradients out, parameter gradients and
    the check (``check``: None = not run, a float = its error, a str = running / why it failed)."""
    pages = trace.pages()
    section, stage = pages[index]
    label = page_labels(trace)[index]
    in_section = sum(1 for sec, _ in pages if sec == section)
    position = sum(1 for sec, _ in pages[:index] if sec == section) + 1
    width = max(30, width)
    out = Text()
    out.append(f"{label} · {stage.title}", style="bold")
    out.append(f"   {stage.name}\n", style="dim")
    out.append(f"{SECTION_TITLE[section]} {position} of {in_section} · page {index + 1} of {len(pages)}\n",
               style="dim")
    out.append("formula  ", style="dim")
    out.append(f"{stage.formula}\n")
    if stage.upstream is not None:
        out.append("rule     ", style="dim")
        out.append(f"{stage.rule}\n")
    out.append("shape    ", style="dim")
    out.append(f"{shape_text(stage.values, stage.axes)}\n")
    if stage.note:
        out.append(f"{stage.note}\n", style="italic")
    if section == "update" and trace.update is not None:
        _update_lines(out, trace, width)
    if stage.upstream is not None:
        _backward_lines(out, stage, width, check)
    else:
        out.append("\nvalues\n", style="bold")
        _table(out, stage.values, stage.axes, width)
    return out


def _table(out: Text, values: np.ndarray, axes: Sequence[Axis], width: int, max_rows: int = MAX_ROWS,
           all_slices: bool = True) -> None:
    for line in fitted_values(values, axes, width - 1, max_rows, all_slices):
        out.append(f" {line}\n")


def _backward_lines(out: Text, stage: Stage, width: int, check: str | float | None) -> None:
    out.append("\ncheck    ", style="dim")
    if check is None:
        out.append("c runs this stage's own finite-difference check (float64)\n", style="dim")
    elif isinstance(check, str):
        out.append(f"{check}\n")
    else:
        ok = check < CHECK_OK
        out.append(f"max relative error {check:.2e} ")
        out.append("✓" if ok else "✗", style="bold green" if ok else "bold red")
        out.append(f"  ({'<' if ok else '≥'} {CHECK_OK:g}: finite differences)\n", style="dim")
    assert stage.upstream is not None
    out.append(f"\nupstream G = dL/d({stage.name})  ", style="bold")
    out.append(f"{shape_text(stage.upstream, stage.upstream_axes)}\n", style="dim")
    _table(out, stage.upstream, stage.upstream_axes, width, all_slices=False)  # 2 heads: the gradient out is next
    main = stage.title.split("→")[-1].strip() if "→" in stage.title else "gradient out"
    out.append(f"\ngradient out: {main}  ", style="bold")
    out.append(f"{shape_text(stage.values, stage.axes)}\n", style="dim")
    _table(out, stage.values, stage.axes, width)
    for arg, g in list(stage.grads.items())[1:]:  # a second input (residual, K of the scores, …)
        out.append(f"\nand d{arg}  ", style="bold")
        out.append(f"{shape_text(g)}  ‖g‖ = {float(np.linalg.norm(g)):.3g}\n", style="dim")
        _table(out, g, (), width, PARAM_ROWS)
    if stage.param_grads:
        out.append("\nparameter gradients\n", style="bold")
    for name, g in stage.param_grads.items():
        out.append(f"  d{name}  ", style="bold")
        out.append(f"{shape_text(g)}  ‖g‖ = {float(np.linalg.norm(g)):.3g}\n", style="dim")
        _table(out, g, (), width, PARAM_ROWS)


def _update_lines(out: Text, trace: Trace, width: int) -> None:
    u = trace.update
    assert u is not None
    settings = ", ".join(f"{k} {v:g}" for k, v in u.settings.items())
    clip = f"clipped × {u.clip_scale:.3g}" if u.clip_scale < 1 else "not clipped"
    out.append(f"\nupdate of {u.param}", style="bold")
    out.append(f" · {u.optimizer} step {u.step} · η {u.lr:.4g} · ‖g‖ {u.grad_norm:.4g} ({clip}) · {settings}\n",
               style="dim")
    names = {s.name.removeprefix("update."): s.values for s in u.stages}
    g = np.asarray(names.get("g", np.zeros(0)))
    if g.size == 0:
        return
    rows = [(title, np.asarray(names[key])) for key, title in UPDATE_KEYS if key in names]
    w, delta = names.get("w"), names.get("delta")
    if w is not None and delta is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            rows.append(("Δw/w", np.where(w != 0, delta / np.where(w != 0, w, 1.0), np.nan)))
    cw, lw = 10, 6
    count = max(1, min(UPDATE_ELEMENTS, (width - 1 - lw) // cw, g.size))
    flat = np.argsort(-np.abs(g).ravel(), kind="stable")[:count]
    where = [np.unravel_index(int(i), g.shape) if g.ndim else () for i in flat]
    out.append(f"the {count} entries with the largest |g| (of {g.size:,}), through the update:\n", style="dim")
    header = "".ljust(lw) + "".join(("[" + ",".join(str(int(n)) for n in ix) + "]").rjust(cw) for ix in where)
    out.append(f" {header}\n", style="bold")
    for title, values in rows:
        cells = "".join(_cell(values[ix] if values.ndim else values).rjust(cw) for ix in where)
        out.append(f" {title}{' ' * (lw - cell_len(title))}{cells}\n")  # m̂ is 2 code points, 1 cell
    ratio = names.get("ratio")
    if ratio is not None:
        out.append(f"‖Δw‖/‖w‖ = {float(ratio):.3g} for the whole parameter\n")


def _cell(x: object) -> str:
    v = float(np.asarray(x))
    if not np.isfinite(v):
        return "–"
    return "0" if v == 0 else f"{v:.3g}"
