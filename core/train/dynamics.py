"""What is happening in a run, in words: events found in its metric series, each with a one-line reason.

The charts show *that* a curve moved; a learner also needs *what it means*. Each detector reads the
series a run records (``train/loss``, ``train/accuracy``, ``val/accuracy``, ``lr``, ``grad_norm``) and
returns the steps where its pattern starts, with an explanation:

    memorising      train accuracy ≥ 99% (smoothed) while validation accuracy is below it by ≥ 20
                    points: the model fits its training examples without the rule behind them yet
    generalising    validation accuracy rises by ≥ 15 points within a few evaluations while training
                    accuracy is already ≥ 90%: the rule is found (in grokking, long after memorising);
                    a climb of several such jumps is one event
    falling         validation accuracy drops by ≥ 15 points within a few evaluations: an update knocked
                    the model off what it had learned (after grokking, Adam's steps on a near-zero loss)
    recovering      validation climbs back to a level it had already reached before a fall
    loss spike      a training loss > 5× its recent smoothed level (and ≥ 0.5 nats above it): an update
                    that overshot (batch-to-batch noise of a healthy run stays below this)
    lr too high     the smoothed training loss ends a stretch of ≥ 50 steps 1.5× (and ≥ 0.1) higher than it
                    began, at a constant learning rate: the steps overshoot instead of descending
    gradient spike  a gradient norm > 10× its recent smoothed level, and ≥ 1
    weights shrink  the total weight norm ‖w‖ (measured at each evaluation) falls ≥ 20% below its peak while
                    training accuracy is high: weight decay is wearing the memorised solution down (in
                    grokking this comes before validation climbs)
    specialising    a head's attention entropy (``core.train.attention_stats``) falls by ≥ 40% and ≥ 0.3 nats
                    within a few evaluations: it has started to look at a few tokens only

Detectors are pure functions of the series (no model needed), so the same events appear live in the
Training pane, in the Runs view and in ``workbench runs ID``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from core.train.smoothing import ema

Series = tuple[Sequence[int], Sequence[float]]

SATURATED = 0.99
LAG = 0.20
JUMP = 0.15
JUMP_WINDOW = 5  # evaluations
SPIKE_FACTOR = 5.0
SPIKE_MIN = 0.5  # nats above the recent level: batch-to-batch noise of a healthy run stays below this
GRAD_SPIKE_FACTOR = 10.0
GRAD_SPIKE_MIN = 1.0  # and at least this large: 0.002 → 0.02 near convergence is noise, not instability
RISE_STEPS = 50
RISE_MIN = 0.1  # and by at least this much (a loss of 0.006 doubling is noise, not divergence)


@dataclass(frozen=True)
class DynamicsEvent:
    """``kind`` happened at ``step``; ``text`` says it in one line for a learner."""

    step: int
    kind: str
    text: str


def _memorising(train: Series, val: Series) -> list[DynamicsEvent]:
    t_steps, t_vals = train
    v_steps, v_vals = val
    if len(t_vals) < 3 or not v_vals:
        return []
    smooth = ema(list(t_vals), 0.9)
    vi = 0
    for step, acc in zip(t_steps, smooth, strict=True):
        while vi + 1 < len(v_steps) and v_steps[vi + 1] <= step:
            vi += 1
        if v_steps[vi] > step:
            continue
        if acc >= SATURATED and acc - v_vals[vi] >= LAG:
            return [DynamicsEvent(step, "memorising",
                                  f"train accuracy {acc:.0%} while validation is {v_vals[vi]:.0%}: memorising the "
                                  "training examples, not yet the rule")]
    return []


def _generalising(val: Series, train: Series) -> list[DynamicsEvent]:
    """Validation jumps while training accuracy is already high (≥ 90%, when recorded): validation catching
    up with training, not the first minutes of learning. A climb made of several jumps is one event — as long
    as validation did not fall back in between. A climb back to a level validation had already reached
    (after a fall, see ``_falling``) is ``recovering``, not news of a rule found."""
    steps, vals = val
    t_steps, t_vals = train
    smooth_train = ema(list(t_vals), 0.9) if t_vals else []

    def train_high(step: int) -> bool:
        if not smooth_train:
            return True
        i = bisect.bisect_right(t_steps, step) - 1
        return i >= 0 and smooth_train[i] >= 0.9

    out: list[DynamicsEvent] = []
    best_so_far: list[int] = []  # the best evaluation up to each one, found once: O(n), not O(n) per jump
    for m in range(len(vals)):
        best_so_far.append(m if not best_so_far or vals[m] > vals[best_so_far[-1]] else best_so_far[-1])
    first_i = first_k = last_j = -(10**9)
    i = 0
    while i < len(vals):
        while i + 1 < len(vals) and vals[i + 1] <= vals[i]:  # a climb starts at the bottom of a dip
            i += 1
        window = range(i + 1, min(len(vals), i + 1 + JUMP_WINDOW))
        j = next((k for k in window if vals[k] - vals[i] >= JUMP), None)
        if j is None:
            i += 1
            continue
        best, before = best_so_far[i], _level_before(vals, i)
        fell = vals[before] - vals[i] >= JUMP  # a climb out of a fall: training accuracy may have fallen too
        if not (fell or train_high(steps[i])):
            i += 1
            continue
        while j + 1 < len(vals) and vals[j + 1] > vals[j]:  # and goes on to its top
            j += 1
        k = next(k for k in range(i + 1, j + 1) if vals[k] > vals[i] + 0.02)  # where the rise begins
        going_on = (out and i - last_j <= 2 * JUMP_WINDOW and vals[i] >= vals[first_i]
                    and min(vals[last_j: i + 1]) > vals[last_j] - JUMP)
        if going_on:  # the same climb, going on: one event from its start
            i, k = first_i, first_k
            out.pop()
            best, before = best_so_far[i], _level_before(vals, i)
            fell = vals[before] - vals[i] >= JUMP
        first_i, first_k, last_j = i, k, j
        if fell and vals[j] <= vals[best] + 0.02:
            out.append(DynamicsEvent(steps[k], "recovering",
                                     f"validation accuracy climbs back {vals[i]:.0%} → {vals[j]:.0%} by step "
                                     f"{steps[j]:,} (it was {vals[before]:.0%} at step {steps[before]:,} before it "
                                     "fell): the rule found before, found again"))
        else:
            out.append(DynamicsEvent(steps[k], "generalising",
                                     f"validation accuracy climbs {vals[i]:.0%} → {vals[j]:.0%} by step {steps[j]:,} "
                                     "while training accuracy is already high: the rule, not just the examples"))
        i = j + 1
    return out


def _level_before(vals: Sequence[float], i: int) -> int:
    """Where validation stood before a climb that starts at evaluation ``i``: the best of the few
    evaluations just before it — the level a fall came down from (the best ever may be long ago)."""
    return max(range(max(0, i - 2 * JUMP_WINDOW), i + 1), key=lambda m: vals[m])


def _falling(val: Series) -> list[DynamicsEvent]:
    """Validation accuracy drops by ≥ 15 points within a few evaluations: the model was knocked off what it
    had learned (in grokking, Adam's large normalised steps on a near-zero loss; loss and gradient spikes
    come with it). Several drops in one fall are one event."""
    steps, vals = val
    out: list[DynamicsEvent] = []
    i = 0
    while i < len(vals):
        while i + 1 < len(vals) and vals[i + 1] >= vals[i]:  # a fall starts at the top
            i += 1
        window = range(i + 1, min(len(vals), i + 1 + JUMP_WINDOW))
        j = next((k for k in window if vals[i] - vals[k] >= JUMP), None)
        if j is None:
            i += 1
            continue
        while j + 1 < len(vals) and vals[j + 1] < vals[j]:  # down to the bottom of this fall
            j += 1
        out.append(DynamicsEvent(steps[j], "falling",
                                 f"validation accuracy fell {vals[i]:.0%} → {vals[j]:.0%} by step {steps[j]:,}: an "
                                 "update knocked the model off what it had learned (look for spikes near it)"))
        i = j + 1
    return out


def _spikes(series: Series, factor: float, kind: str, what: str, why: str, min_excess: float,
            min_value: float = 0.0) -> list[DynamicsEvent]:
    steps, vals = series
    out: list[DynamicsEvent] = []
    level = math.nan
    last_step = -(10**9)
    for step, x in zip(steps, vals, strict=True):
        if not math.isfinite(x):
            continue
        if (math.isfinite(level) and x > factor * level and x - level >= min_excess and x >= min_value
                and step - last_step > 20):
            out.append(DynamicsEvent(step, kind, f"{what} {x:.3g}, {x / level:.0f}× its recent level {level:.3g} "
                                                 f"({why})"))
            last_step = step
        level = x if math.isnan(level) else 0.9 * level + 0.1 * x
    return out


def _rising(loss: Series, lr: Series) -> list[DynamicsEvent]:
    steps, vals = loss
    if len(vals) < RISE_STEPS:
        return []
    smooth = ema(list(vals), 0.9)
    lr_steps, lr_vals = lr
    for i in range(RISE_STEPS, len(smooth)):
        start = i - RISE_STEPS
        after = smooth[i: i + RISE_STEPS]  # and it stays up: a spike that the next steps undo is not this
        if (steps[i] - steps[start] < RISE_STEPS or not smooth[i] > 1.5 * smooth[start]
                or smooth[i] - smooth[start] < RISE_MIN or len(after) < RISE_STEPS
                or min(after) <= max(1.5 * smooth[start], smooth[start] + RISE_MIN)):
            continue
        window = [v for s, v in zip(lr_steps, lr_vals, strict=True) if steps[start] <= s <= steps[i]]
        if window and max(window) != min(window):
            continue  # the lr changed in between: a schedule or an edit explains it
        return [DynamicsEvent(steps[start], "lr too high",
                              f"training loss rose {smooth[start]:.3g} → {smooth[i]:.3g} by step {steps[i]:,} at a "
                              "constant learning rate: too high? (the steps overshoot)")]
    return []


NORM_DROP = 0.2


def _weights_shrink(norm: Series, train: Series) -> list[DynamicsEvent]:
    steps, vals = norm
    t_steps, t_vals = train
    smooth_train = ema(list(t_vals), 0.9) if t_vals else []
    peak, peak_step = -math.inf, 0
    for step, v in zip(steps, vals, strict=True):
        i = bisect.bisect_right(t_steps, step) - 1
        high = not smooth_train or (i >= 0 and smooth_train[i] >= 0.9)
        if not high:
            continue  # the peak is the memorised solution's: weight decay shrinking a random start is not news
        if v > peak:
            peak, peak_step = v, step
        if peak > 0 and v <= (1 - NORM_DROP) * peak:
            return [DynamicsEvent(step, "weights shrink",
                                  f"the weight norm fell {peak:.3g} → {v:.3g} since step {peak_step:,} while training "
                                  "accuracy is high: weight decay wears the memorised solution down")]
    return []


ENTROPY_DROP = 0.4  # share of the entropy lost …
ENTROPY_DROP_NATS = 0.3  # … and at least this many nats


def _specialising(name: str, series: Series) -> list[DynamicsEvent]:
    steps, vals = series
    head = name.rsplit("/", 1)[-1]
    for i in range(len(vals)):
        for j in range(i + 1, min(len(vals), i + 1 + JUMP_WINDOW)):
            drop = vals[i] - vals[j]
            if vals[i] > 0 and drop >= ENTROPY_DROP * vals[i] and drop >= ENTROPY_DROP_NATS:
                return [DynamicsEvent(steps[j], "specialising",
                                      f"head {head}'s attention entropy fell {vals[i]:.2f} → {vals[j]:.2f} nats by "
                                      f"step {steps[j]:,}: it now looks at a few tokens (a head specialising)")]
    return []


SPIKE_KINDS = ("loss spike", "gradient spike")
#: kinds that can happen many times in a run, each summarised as one line (count, steps, the latest),
#: with their name for several
REPEATING_KINDS: dict[str, str] = {
    "loss spike": "loss spikes", "gradient spike": "gradient spikes", "falling": "falls of validation accuracy",
    "recovering": "recoveries", "specialising": "heads specialising",
}


def summary_lines(events: Sequence[DynamicsEvent]) -> list[str]:
    """The events for a reader, in the order they began: every phase (memorising, generalising, lr too
    high) in full, and each kind that repeats (heads specialising, spikes, falls and recoveries) as one line
    with its count, its steps and the latest one — dozens of spikes must not hide the phases."""
    lines: list[tuple[int, str]] = [(e.step, f"step {e.step:,} {e.kind}: {e.text}")
                                    for e in events if e.kind not in REPEATING_KINDS]
    for kind, several in REPEATING_KINDS.items():
        found = [e for e in events if e.kind == kind]
        if len(found) == 1:
            lines.append((found[0].step, f"step {found[0].step:,} {kind}: {found[0].text}"))
        elif found:
            first, last = found[0].step, found[-1].step
            when = f"step {first:,}" if first == last else f"steps {first:,}–{last:,}"
            lines.append((first, f"{len(found)} {several} ({when}); the latest: {found[-1].text}"))
    return [line for _, line in sorted(lines, key=lambda sl: sl[0])]


def marked_steps(events: Sequence[DynamicsEvent], limit: int) -> list[int]:
    """The steps of at most ``limit`` events to mark on a chart, in order: the phases that happen once
    (memorising, generalising …) first, then the latest falls, recoveries and specialising heads in the
    marks left — a grokking run's dozen falls must not push its memorising and generalising off the chart.
    Spikes are never marked (there can be hundreds; the charts show them anyway)."""
    phases = [e for e in events if e.kind not in SPIKE_KINDS]
    once = [e.step for e in phases if e.kind not in REPEATING_KINDS][-limit:] if limit > 0 else []
    room = limit - len(once)
    repeated = [e.step for e in phases if e.kind in REPEATING_KINDS][-room:] if room > 0 else []
    return sorted(once + repeated)


def detect_events(series: Mapping[str, Series]) -> list[DynamicsEvent]:
    """Every event the detectors find in ``series`` (name → (steps, values)), in step order."""
    empty: Series = ([], [])
    train_acc, val_acc = series.get("train/accuracy", empty), series.get("val/accuracy", empty)
    loss, lr, grad = series.get("train/loss", empty), series.get("lr", empty), series.get("grad_norm", empty)
    events = (_memorising(train_acc, val_acc) + _generalising(val_acc, train_acc) + _falling(val_acc)
              + _spikes(loss, SPIKE_FACTOR, "loss spike", "the training loss jumped to",
                        "an update overshot, or a hard batch", SPIKE_MIN) + _rising(loss, lr)
              + _spikes(grad, GRAD_SPIKE_FACTOR, "gradient spike", "the gradient norm jumped to",
                        "clipping caps the step it takes", 0.0, GRAD_SPIKE_MIN))
    events += _weights_shrink(series.get("weight_norm", empty), train_acc)
    for name in sorted(n for n in series if n.startswith("attn_entropy/")):
        events += _specialising(name, series[name])
    return sorted(events, key=lambda e: (e.step, e.kind))
