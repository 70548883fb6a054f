"""Reading the Training pane's steering inputs (pace, run-until) and describing them: no Textual here.

Kept apart from the widgets so the rules are unit-tested on their own: ``99%`` is an accuracy of 0.99,
an empty pace means full speed, ``watch`` a pace at which the charts visibly move, and every bad value
is a ``ConfigError`` that says what is wrong. A new run from the app starts with ``DEFAULT_UNTIL``, so
the first run stops once it has learned the task instead of drawing epochs of flat lines.
"""

from __future__ import annotations

from core.errors import ConfigError
from core.train.run_until import RunUntil
from workbench.widgets.form import parse_float

#: the run-until kinds as the Select offers them: (label, RunUntil field or "none")
UNTIL_KINDS: tuple[tuple[str, str], ...] = (
    ("no condition", "none"),
    ("val acc ≥", "val_accuracy"),
    ("loss ≤", "loss"),
    ("step =", "step"),
    ("grad spike ×", "grad_spike"),
)
UNTIL_TEXT = {"val_accuracy": "val acc ≥ {:.2%}", "loss": "loss ≤ {:g}", "step": "step {:,}",
              "grad_spike": "grad > {:g}× median"}
#: what the value field suggests for each kind
UNTIL_PLACEHOLDER = {"none": "", "val_accuracy": "e.g. 95% ⏎", "loss": "e.g. 0.05 ⏎", "step": "e.g. 500 ⏎",
                     "grad_spike": "e.g. 10 ⏎"}
FULL_SPEED = ("", "full", "max", "0")
#: the "watch" pace: steps per second at which the charts visibly move (a default run is ~15 s an epoch)
WATCH_PACE = 20.0
WATCH = ("watch", "w")
#: the run-until condition a new run starts with, as the until widget shows it: (kind, value text)
DEFAULT_UNTIL: tuple[str, str] = ("val_accuracy", "99%")


def clock(seconds: float) -> str:
    """``m:ss``, or ``h:mm:ss`` from an hour on."""
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def parse_until(kind: str, text: str) -> RunUntil:
    """A ``RunUntil`` from the until form; accepts ``99%`` for accuracies. ConfigError on bad input."""
    if kind == "none":
        return RunUntil()
    text = text.strip()
    if not text:
        raise ConfigError("enter a value for the run-until condition")
    if kind == "step":
        try:
            return RunUntil(step=int(text.replace(",", "").replace("_", "")))
        except ValueError:
            raise ConfigError(f"run-until step must be a whole number, got {text!r}") from None
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else parse_float(text)
    except ValueError as exc:
        raise ConfigError(f"run-until value {exc}") from None
    if kind == "val_accuracy":
        if value > 1:
            raise ConfigError("validation accuracy is between 0 and 1 (or 0% and 100%)")
        return RunUntil(val_accuracy=value)
    if kind == "loss":
        return RunUntil(loss=value)
    if kind == "grad_spike":
        return RunUntil(grad_spike=value)
    raise ConfigError(f"unknown run-until condition {kind!r}")


def parse_pace(text: str) -> float | None:
    """Steps per second (``20``, ``20/s``, ``watch`` = ``WATCH_PACE``), or None for full speed (empty,
    ``full``, ``max``, ``0``)."""
    text = text.strip().lower()
    if text in FULL_SPEED:
        return None
    if text in WATCH:
        return WATCH_PACE
    try:
        pace = parse_float(text.removesuffix("/s"))
    except ValueError as exc:
        raise ConfigError(f"pace {exc}") from None
    if pace <= 0:
        raise ConfigError("pace must be a positive number of steps per second")
    return pace


def default_until() -> RunUntil:
    """The condition of ``DEFAULT_UNTIL``."""
    return parse_until(*DEFAULT_UNTIL)


def describe_until(until: RunUntil) -> str:
    """``when val acc ≥ 99.00%`` (``or when …`` for more than one); empty without a condition."""
    return " or ".join("when " + fmt.format(getattr(until, key)) for key, fmt in UNTIL_TEXT.items()
                       if getattr(until, key) is not None)


def describe_steering(pace: float | None, until: RunUntil) -> str:
    """``pace 20/s · until val acc ≥ 99.00%`` (empty when neither is set)."""
    parts = [f"pace {pace:g}/s"] if pace is not None else []
    for key, fmt in UNTIL_TEXT.items():
        value = getattr(until, key)
        if value is not None:
            parts.append("until " + fmt.format(value))
    return " · ".join(parts)
