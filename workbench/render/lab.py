"""Text renderings of the Lab's results for the Lab pane: the head atlas, an ablation, a patching map, a
logit attribution and a head's circuits. Colour carries the shape and every cell prints its number, so
nothing depends on colour alone (256-colour terminals, colour-blind readers, screenshots)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rich.text import Text

from core.data.answer_format import format_answer
from core.data.vocab import VOCAB
from core.probe.lab.attribution import Attribution
from core.probe.lab.circuits import DIGIT_IDS, HeadCircuit
from core.train.slices import worst_slices
from workbench.lab_probes import Ablated, HeadAtlas, Patched
from workbench.render.grids import diverging_style, finite_abs_max

CELL = 7
MAX_POSITIONS = 14  # positions shown in a head's QK-over-positions map (5 cells each: fits 80 columns)


def _cell(value: float, scale: float, fmt: str = "{:+.2f}", width: int = CELL) -> Text:
    shown = round(float(value), 2) + 0.0  # never "-0.00"
    return Text(fmt.format(shown).rjust(width - 1) + " ", style=diverging_style(float(value), scale))


def heat_table(matrix: np.ndarray, row_labels: Sequence[str], col_labels: Sequence[str], *, label_width: int = 8,
               fmt: str = "{:+.2f}", scale: float | None = None, width: int = CELL) -> Text:
    """Rows of shaded numeric cells (blue positive, red negative), a header of column labels."""
    m = np.asarray(matrix, dtype=np.float64)
    s = finite_abs_max(m) if scale is None else scale
    text = Text(no_wrap=True, overflow="crop")
    text.append(" " * label_width + "".join(f"{str(c)[:width - 1]:>{width - 1}} " for c in col_labels), style="bold")
    for label, row in zip(row_labels, m, strict=True):
        text.append("\n" + f"{str(label)[:label_width - 1]:<{label_width}}")
        for v in row:
            text.append_text(_cell(v, s, fmt, width))
    return text


def atlas_text(atlas: HeadAtlas) -> Text:
    """Heads × operations: the answer-margin drop when the head is switched off (logits; shade and number),
    the accuracy drop, then each head's captions."""
    ops = list(atlas.operations)
    margins = atlas.table.margin_drops(ops)
    drops = atlas.table.drops(ops)[:, -1]
    kind = "mean" if atlas.table.mean else "zero"
    text = Text(f"{atlas.label} · {atlas.table.split} split ({atlas.table.n:,}). Each head switched off alone "
                f"({kind} ablation): how much the answer margin drops (logits; blue: the head helps) and accuracy "
                "(points)\n", style="dim")
    labels = [str(e.head) for e in atlas.table.effects]
    table = heat_table(np.column_stack([margins, drops * 100]), labels, [*ops, "acc pts"], label_width=6)
    text.append_text(table)
    best = atlas.table.effects[int(np.argmax(margins.sum(axis=1)))].head
    text.append(f"\n\nthe answers lean most on head {best}. What each head does:\n", style="bold")
    for role, caption in zip(atlas.roles, atlas.circuit_captions, strict=True):
        text.append(f"{role.head}  ", style="bold")
        text.append(role.caption + "\n")
        if caption:
            text.append(f"     {caption}\n", style="dim")
    return text


def ablation_text(a: Ablated) -> Text:
    r = a.result
    text = Text(f"{a.label} · {r.split} split ({r.n:,})\n", style="dim")
    if r.ablation.empty:
        text.append("Nothing to ablate: name heads (0.1,1.3), neurons (1:top8) or sublayers (0.attn).\n")
        return text
    change = (r.ablated.accuracy - r.baseline.accuracy) * 100
    text.append(f"{r.ablation.describe()}: accuracy {r.baseline.accuracy:.1%} → ", style="bold")
    text.append(f"{r.ablated.accuracy:.1%} ({change:+.1f} points)\n", style="bold red" if change < -0.05 else "bold")
    ops = list(a.operations)
    rows = np.array([[r.baseline.by_operation[o] * 100 for o in ops], [r.ablated.by_operation[o] * 100 for o in ops],
                     [(r.ablated.margin_by_operation[o] - r.baseline.margin_by_operation[o]) for o in ops]])
    text.append_text(heat_table(rows[:2], ["before", "after"], ops, label_width=8, fmt="{:.1f}", scale=100.0))
    text.append("\n")
    text.append_text(heat_table(rows[2:], ["margin"], ops, label_width=8))
    worst = next(iter(worst_slices(r.ablated.slices, 1)), None)
    if worst is not None:
        text.append(f"\nlowest slice after: {worst.title} at {worst.accuracy:.1%} ({worst.correct}/{worst.n})")
    text.append("\nThe weights are unchanged: the ablation is a mask in the forward pass.", style="dim")
    return text


def patching_text(p: Patched) -> Text:
    r = p.result
    text = Text(f"{p.label}: clean {r.clean} = {format_answer(r.clean_answer)}, corrupted {r.corrupt} = "
                f"{format_answer(r.corrupt_answer)} ({p.how})\n", style="dim")
    text.append(f"logit difference {r.compared[0]} − {r.compared[1]} at position {r.position}: clean "
                f"{r.clean_difference:+.2f}, corrupted {r.corrupt_difference:+.2f}. Each cell: the share of it "
                "recovered when that activation comes from the clean run (1 = all).\n")
    rows = [f"{t} {a if a == b else a + '/' + b}" for t, (a, b) in enumerate(zip(r.tokens, r.corrupt_tokens,
                                                                                 strict=True))]
    cols = ["embed", *(f"blk {i}" for i in range(len(r.residual_labels) - 1))]
    text.append("residual stream: rows are positions, columns the embeddings and the output of each block (blk)\n",
                style="bold")
    text.append_text(heat_table(r.residual.T, rows, cols, label_width=9, scale=1.0))
    text.append("\n\nheads: rows are layers, columns heads\n", style="bold")
    text.append_text(heat_table(r.heads, [f"layer {i}" for i in range(r.heads.shape[0])],
                                [str(h) for h in range(r.heads.shape[1])], label_width=9, scale=1.0))
    return text


def attribution_text(label: str, a: Attribution) -> Text:
    text = Text(f"{label}: {a.text} → logit of {a.target} at position {a.position}: {a.logit:.3f}\n", style="dim")
    text.append(f"({a.note})\n")
    biggest = max((abs(v) for _, v in a.components), default=1.0) or 1.0
    for name, v in sorted(a.components, key=lambda kv: -abs(kv[1])):
        bar = "█" * max(0, round(abs(v) / biggest * 24))
        text.append(f"{name:<34}{v:>8.3f} ")
        text.append(bar + "\n", style="blue" if v >= 0 else "red")
    text.append(f"{'total':<34}{a.total:>8.3f}", style="bold")
    return text


def circuit_text(c: HeadCircuit, queries: Sequence[str], outputs: Sequence[str], caption: str) -> Text:
    """QK rows of the given query tokens over the digits, and the OV map of the digits to the digit outputs."""
    text = Text(f"head {c.head}: {caption or 'no strong pattern over the digits'}\n", style="bold")
    ids = [VOCAB.encode([q])[0] for q in queries]
    text.append("QK over tokens (direct path): how much a query token looks for each digit\n", style="dim")
    qk = c.qk_tokens[np.ix_(ids, DIGIT_IDS)]
    text.append_text(heat_table(qk - qk.mean(axis=1, keepdims=True), list(queries), [str(d) for d in range(10)],
                                label_width=7, fmt="{:+.1f}", width=5))
    n = min(c.qk_positions.shape[0], MAX_POSITIONS)
    text.append(f"\n\nQK over positions (direct path, a typical number at each): how much position (row) looks "
                f"at position (column), the first {n}\n", style="dim")
    qp = c.qk_positions[:n, :n]
    text.append_text(heat_table(qp - qp.mean(axis=1, keepdims=True), [str(i) for i in range(n)],
                                [str(i) for i in range(n)], label_width=7, fmt="{:+.1f}", width=5))
    text.append("\n\nOV (digit attended → output logit; a copying head lights the diagonal)\n", style="dim")
    digit_outputs = [i for i, o in enumerate(outputs) if str(o) in {str(d) for d in range(10)}]
    if len(digit_outputs) >= 10:
        ov = c.ov[np.ix_(DIGIT_IDS, digit_outputs[:10])]
        text.append_text(heat_table(ov, [str(d) for d in range(10)], [str(outputs[i]) for i in digit_outputs[:10]],
                                    label_width=7, fmt="{:+.1f}", width=5))
    return text
