"""The Runs pane's time-travel view as Rich text: one run at one snapshot step."""

from __future__ import annotations

from rich.text import Text

from core.data.answer_format import format_answer
from workbench.render.attention import attention_text
from workbench.render.evaluation import accuracy_text, confusion_text
from workbench.render.params import embeddings_text
from workbench.runs_probes import TimeTravel

MOVED_SHOWN = 5


def snapshot_strip(steps: list[int], at: int, width: int) -> Text:
    """The snapshot steps on one line with the current one bracketed — ``0 1 2 4 [8] 12 18`` — and, when
    they do not all fit, the ones around the current step with … for the rest."""
    labels = [f"[{s:,}]" if s == at else f"{s:,}" for s in steps]
    i = steps.index(at) if at in steps else len(steps) - 1
    lo, hi = i, i + 1
    room = width - len("snapshots ") - 4
    used = len(labels[i]) + 1
    while True:  # grow the window around the current step, one side then the other
        grew = False
        for side in ("left", "right"):
            j = lo - 1 if side == "left" else hi
            if 0 <= j < len(labels) and used + len(labels[j]) + 1 <= room:
                used += len(labels[j]) + 1
                lo, hi = (j, hi) if side == "left" else (lo, j + 1)
                grew = True
        if not grew:
            break
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("snapshots ", style="dim")
    if lo > 0:
        text.append("… ", style="dim")
    for k in range(lo, hi):
        text.append(labels[k], style="bold reverse" if steps[k] == at else "dim")
        text.append(" ")
    if hi < len(labels):
        text.append("…", style="dim")
    return text


def time_travel_text(tt: TimeTravel, width: int = 80, head: int = 0) -> Text:
    """Header and snapshot strip, accuracy by operation and slice, confusions, the attention of one
    expression in head number ``head`` (counted through the layers), the digit embeddings' similarity,
    and the parameters that moved most since the previous snapshot."""
    text = Text(no_wrap=True, overflow="crop")
    text.append(f"run {tt.run_id} at step {tt.step:,}", style="bold")
    text.append("   [ ] move · d diff from here\n", style="dim")
    text.append_text(snapshot_strip(tt.steps, tt.step, width))
    text.append("\n")
    text.append_text(accuracy_text(tt.report, f"the model as it was at step {tt.step:,}"))
    text.append("\n")
    text.append_text(confusion_text(tt.report, tt.task, width))
    text.append("\n")
    answer = "no answer" if tt.answer is None else format_answer(tt.answer)
    text.append(f"{tt.expression} → {answer} at this step\n", style="bold")
    if tt.attention is not None and tt.attention.maps:
        n_heads = tt.attention.maps[0].shape[0]
        layer, h = divmod(head % (len(tt.attention.maps) * n_heads), n_heads)  # h: the next head
        text.append_text(attention_text(tt.attention, layer, h, width))
        text.append("\nh: the next head", style="dim")
        text.append("\n")
    if tt.embeddings is not None:
        text.append_text(embeddings_text(tt.embeddings))
        text.append("\n")
    if tt.previous is None:
        text.append("the first snapshot: the weights the run started from", style="dim")
    else:
        lo, hi = sorted((tt.previous, tt.step))
        text.append(f"moved most between step {lo:,} and step {hi:,} (‖Δ‖ / ‖w‖ at step {lo:,})\n", style="bold")
        for c in tt.changes[:MOVED_SHOWN]:
            text.append(f"  {c.name:<32} {c.relative:9.3g}  (‖Δ‖ {c.norm:.3g}, largest |Δ| {c.max_abs:.3g})\n")
    text.rstrip()
    return text
