"""Validation shared by the configuration dataclasses, and the ``Option``: one setting declared once.

Every setting a user can choose (task, dataset, model, optimiser, run) is an ``Option`` declared next to
the dataclass it belongs to (``TASK_OPTIONS`` in ``core.data.task``, ``MODEL_OPTIONS`` in
``core.nn.config`` …) and collected in ``core.train.options``. The declaration holds everything anyone
needs to know about the setting — its type, bounds, default, a short label, a help text, whether it may
change mid-run — and everything else is derived from it: the dataclass's own validation
(``validate_options``), the CLI flags, the app's form fields, the mid-run editable set.

Every bad value is one clear ``ConfigError`` naming the option: ``n_layers must be between 1 and 48,
got 0``, ``lr must be in (0, 10], got 0``, ``kind must be one of encoder, decoder, got 'rnn'``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Literal, Self

from core.errors import ConfigError

#: The one seed limit, for the dataset seed and the initialisation seed alike: the largest signed 64-bit
#: integer. It is the widest limit that was ever accepted (the dataset seed's), so every dataset file and
#: checkpoint saved so far still loads; it fits NumPy's int64 and ``SeedSequence`` entropy, and Python's
#: ``json`` writes and reads it exactly. (2**32 − 1 would have refused seeds that older files hold.)
MAX_SEED = 2**63 - 1

OptionKind = Literal["int", "float", "choice", "names"]
#: where the live value of a mid-run editable option is kept: the schedule's scale (lr), the trainer
#: (clip_norm) or an attribute of the optimizer object (weight_decay, momentum, betas)
Editable = Literal["schedule", "trainer", "optimizer"]


def _fmt(x: float) -> str:
    return f"{x:,}" if isinstance(x, int) else f"{x:g}"


def describe_range(kind: str, lo: float | None, hi: float | None, lo_open: bool = False) -> str:
    """The allowed range in words, as both the core's errors and the app's fields say it:
    ``between 1 and 48`` (integers), ``in (0, 10]`` / ``in [0, 1]`` (numbers), ``at least 0`` …"""
    if lo is not None and hi is not None:
        if kind == "int":
            return f"between {_fmt(lo)} and {_fmt(hi)}"
        return f"in {'(' if lo_open else '['}{_fmt(lo)}, {_fmt(hi)}]"
    if lo is not None:
        return f"greater than {_fmt(lo)}" if lo_open else f"at least {_fmt(lo)}"
    if hi is not None:
        return f"at most {_fmt(hi)}"
    return ""


def in_range(value: float, lo: float | None, hi: float | None, lo_open: bool = False) -> bool:
    """Is ``value`` within the bounds (NaN never is)?"""
    if value != value:
        return False
    if lo is not None and (value <= lo if lo_open else value < lo):
        return False
    return hi is None or value <= hi


def check_int(name: str, value: Any, lo: int | None, hi: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if not in_range(value, lo, hi):
        raise ConfigError(f"{name} must be {describe_range('int', lo, hi)}, got {value:,}")


def check_float(name: str, value: Any, lo: float | None, hi: float | None, lo_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if not in_range(value, lo, hi, lo_open):
        raise ConfigError(f"{name} must be {describe_range('float', lo, hi, lo_open)}, got {value:g}")


def check_choice(name: str, value: Any, choices: tuple[Any, ...]) -> None:
    if choices and all(isinstance(c, int) for c in choices) and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(map(str, choices))}, got {value!r}")


@dataclass(frozen=True)
class Option:
    """One setting, declared once.

    name      unique across all options: the key in flat options (``core.train.options``) and the name
              the errors use (``n_layers must be …``); ``field`` is the dataclass field it sets when that
              differs (the optimizer's ``name`` is the option ``optimizer``, the dataset's ``seed`` is
              ``data_seed``)
    kind      ``int`` or ``float`` (within ``lo``..``hi``, ``lo_open`` for an open lower bound),
              ``choice`` (one of ``choices``), ``names`` (a list drawn from ``choices``, checked by
              ``normalise``)
    label     the short words for it, the same in the app's form and on the command line: the CLI flag is
              the label with spaces and underscores as hyphens (``nesting`` → ``--nesting``,
              ``d_model`` → ``--d-model``); ``aliases`` are older flags still accepted (``--depth``)
    help      one sentence for ``--help`` and the form's tooltip
    choice_labels  how the form shows each choice (``pre-LN`` for ``pre``), if not the value itself
    editable  where its live value is kept if it may change mid-run (see ``Editable``), else None
    derived   computed from other options (``total_steps``, the model's ``vocab_size`` …): validated like
              the others but never set by the user, so not a flag or a form field
    """

    name: str
    kind: OptionKind
    default: Any
    label: str
    help: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    choices: tuple[Any, ...] = ()
    choice_labels: tuple[str, ...] = ()
    field: str = ""
    aliases: tuple[str, ...] = ()
    editable: Editable | None = None
    derived: bool = False
    normalise: Callable[[Any], Any] | None = None

    def __post_init__(self) -> None:
        if not self.field:
            object.__setattr__(self, "field", self.name)
        if self.choice_labels and len(self.choice_labels) != len(self.choices):
            raise ValueError(f"option {self.name}: one choice label per choice")

    @property
    def flag(self) -> str:
        """The command-line flag: the label's words joined by hyphens."""
        return "--" + re.sub(r"[ _]+", "-", self.label)

    @property
    def shown_choices(self) -> tuple[tuple[str, Any], ...]:
        """(text shown, value) for each choice."""
        labels = self.choice_labels or tuple(str(c) for c in self.choices)
        return tuple(zip(labels, self.choices, strict=True))

    def describe(self) -> str:
        """The allowed values in words (``between 1 and 48``, ``one of pre, post``)."""
        if self.kind in ("int", "float"):
            return describe_range(self.kind, self.lo, self.hi, self.lo_open)
        return f"one of {', '.join(map(str, self.choices))}"

    def format(self, value: Any) -> str:
        """``value`` as a user would type it (``0.001``, ``First,Max``)."""
        if self.kind == "names":
            return ",".join(value)
        if self.kind == "float":
            return f"{float(value):g}"
        return str(value)

    def check(self, value: Any) -> Any:
        """``value`` if it is acceptable (normalised, for ``names``), else a ConfigError saying why."""
        if self.kind == "int":
            check_int(self.name, value, _int_or_none(self.lo), _int_or_none(self.hi))
        elif self.kind == "float":
            check_float(self.name, value, self.lo, self.hi, self.lo_open)
        elif self.kind == "choice":
            check_choice(self.name, value, self.choices)
        else:
            if self.normalise is not None:
                return self.normalise(value)
            if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
                raise ConfigError(f"{self.name} must be a non-empty list, got {value!r}")
            for v in value:
                check_choice(self.name, v, self.choices)
            return tuple(value)
        return value


def _int_or_none(x: float | None) -> int | None:
    return None if x is None else int(x)


def option_defaults(options: Iterable[Option]) -> dict[str, Any]:
    """Field name → declared default: the dataclasses take their defaults from here."""
    return {o.field: o.default for o in options}


def validate_options(config: object, options: Iterable[Option]) -> None:
    """Check every option's field of ``config`` (a frozen dataclass), in declaration order; a ``names``
    option's normalised value is stored back."""
    for option in options:
        value = getattr(config, option.field)
        checked = option.check(value)
        if checked is not value:
            object.__setattr__(config, option.field, checked)


class DictMixin:
    """to_dict/from_dict with a clear error for unknown, missing or mistyped keys (for dataclasses)."""

    __dataclass_fields__: ClassVar[dict[str, Any]]  # set by @dataclass: makes the mixin a dataclass type

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        if not isinstance(data, dict):
            raise ConfigError(f"{cls.__name__} must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{cls.__name__} has unknown keys: {', '.join(unknown)}")
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise ConfigError(f"bad {cls.__name__}: {exc}") from None
