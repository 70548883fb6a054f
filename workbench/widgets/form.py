"""Labelled form fields that validate as they are typed and show the reason next to the field.

Every field is described by a ``FieldSpec`` (its config name, label, kind and bounds), so the Dataset and
Training panes build their forms from tables and read them back into core configs. The focused field's
meaning shows in a line under it (``.field-help``, shown while its ``FocusRow`` has the focus). Two
layers of checking, both visible at the field:

* the field's own Input validators (a number, within bounds) — the reason appears under the field as
  soon as the text is invalid;
* the core's own validation (``ConfigError``) when the pane builds the config: cross-field rules such as
  "n_heads must divide d_model" are mapped back to the field they name by ``field_for_message``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.validation import ValidationResult, Validator
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static

from core.validation import describe_range, in_range

FieldKind = Literal["int", "float", "choice"]


class FieldError(ValueError):
    """A form value that cannot be used; ``key`` names the field so the message can be shown there."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


def parse_int(text: str) -> int:
    """An integer as people type it: ``10000``, ``10_000`` or ``10,000``."""
    cleaned = text.strip().replace("_", "").replace(",", "")
    if not cleaned:
        raise ValueError("required: enter a whole number")
    if not re.fullmatch(r"[+-]?\d+", cleaned):
        raise ValueError("must be a whole number")
    return int(cleaned)


def parse_float(text: str) -> float:
    """A finite number (``0.001``, ``1e-3``); NaN and infinity are refused."""
    if not text.strip():
        raise ValueError("required: enter a number")
    try:
        value = float(text.strip().replace("_", ""))
    except ValueError:
        raise ValueError("must be a number (e.g. 0.001 or 1e-3)") from None
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


class RangeValidator(Validator):
    """Accepts an int or float within [lo, hi] (or (lo, hi] when ``lo_open``); the failure says why, in
    the same words as the core's own errors (``core.validation.describe_range``)."""

    def __init__(self, kind: Literal["int", "float"], lo: float | None, hi: float | None,
                 lo_open: bool = False, optional: bool = False) -> None:
        super().__init__()
        self.kind, self.lo, self.hi, self.lo_open, self.optional = kind, lo, hi, lo_open, optional

    def describe_range(self) -> str:
        return describe_range(self.kind, self.lo, self.hi, self.lo_open)

    def validate(self, value: str) -> ValidationResult:
        if self.optional and not value.strip():
            return self.success()
        try:
            number: float = parse_int(value) if self.kind == "int" else parse_float(value)
        except ValueError as exc:
            return self.failure(str(exc))
        if not in_range(number, self.lo, self.hi, self.lo_open):
            return self.failure(f"must be {self.describe_range()}")
        return self.success()


@dataclass(frozen=True)
class FieldSpec:
    """One form field: ``key`` is the config field it feeds (``d_model``, ``lr`` …) and names its widgets;
    ``option`` the schema option it shows (``core.train.options``), when that name differs from ``key``
    (the Dataset pane's ``seed`` is the option ``data_seed``). ``workbench.settings_fields`` derives the
    specs from the schema."""

    key: str
    label: str
    kind: FieldKind
    default: Any
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    choices: tuple[tuple[str, Any], ...] = ()  # (shown text, value) for a Select
    tooltip: str = ""
    aliases: tuple[str, ...] = ()  # other names the core's error messages use for this field
    optional: bool = False  # an empty int/float field means None
    option: str = ""  # the schema option's name, if not ``key``

    @property
    def option_name(self) -> str:
        return self.option or self.key

    def validators(self) -> list[Validator]:
        if self.kind == "choice":
            return []
        return [RangeValidator(self.kind, self.lo, self.hi, self.lo_open, self.optional)]

    def format(self, value: Any) -> str:
        if value is None:
            return ""
        if self.kind == "float":
            return f"{float(value):g}"
        if self.kind == "int" and isinstance(value, int) and abs(value) >= 10_000:
            return f"{value:,}"  # parse_int reads it back
        return str(value)


class FocusRow(Vertical):
    """A form row that has the ``-focused`` class while the focus is inside it (the stylesheet then
    shows its ``.field-help`` line; a class, because Textual restyles a subtree reliably on a class
    change, and not always on a ``:focus-within`` of an ancestor)."""

    def _on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self.add_class("-focused")

    def _on_descendant_blur(self, event: events.DescendantBlur) -> None:
        self.remove_class("-focused")


class FieldRow(FocusRow):
    """A label and its control on one line; under them, while the focus is in the row, what the field
    means (its option's help text, also the control's tooltip: a tooltip alone is invisible from the
    keyboard and with ``--no-mouse``), and only while the value is wrong, the reason.

    The two lines under the control are mounted when first needed (the help on the row's first focus,
    the reason on its first error), not with the row: a form has dozens of rows, few of them are ever
    focused or wrong, and every widget costs each restyle of the screen (two widgets fewer per row made
    an app start measurably faster).
    """

    def __init__(self, spec: FieldSpec, prefix: str) -> None:
        super().__init__(id=f"{prefix}-{spec.key}-row", classes="field-row")
        self.spec = spec
        self.control_id = f"{prefix}-{spec.key}"
        self._error = ""

    def compose(self) -> ComposeResult:
        spec = self.spec
        control: Widget
        with Horizontal(classes="field-line"):
            yield Label(spec.label, classes="field-label")
            if spec.kind == "choice":
                control = Select(spec.choices, value=spec.default, allow_blank=False, compact=True,
                                 id=self.control_id)
            else:
                control = Input(spec.format(spec.default), compact=True, id=self.control_id,
                                validators=spec.validators(), placeholder="none" if spec.optional else "")
            if spec.tooltip:
                control.tooltip = spec.tooltip
            yield control

    def _on_descendant_focus(self, event: events.DescendantFocus) -> None:
        super()._on_descendant_focus(event)
        if self.spec.tooltip and not self.query(".field-help"):
            self.mount(Static(self.spec.tooltip, classes="field-help", markup=False),
                       after=self.query_one(".field-line"))

    @property
    def control(self) -> Input | Select[Any]:
        control = self.query_one(f"#{self.control_id}")
        assert isinstance(control, Input | Select)
        return control

    @property
    def error(self) -> str:
        return self._error

    def set_error(self, message: str | None) -> None:
        """Show ``message`` under the field (or clear it); the row gets the ``-error`` class."""
        message = message or ""
        if message == self._error:
            return
        self._error = message
        text = f"↳ {message}" if message else ""
        shown = self.query(".field-error")
        if shown:
            shown.first(Static).update(text)
        elif message:
            self.mount(Static(text, classes="field-error"))
        self.set_class(bool(message), "-error")

    def value(self) -> Any:
        """The parsed value; ``FieldError`` (naming this field) if the text is not acceptable."""
        spec, control = self.spec, self.control
        if isinstance(control, Select):
            return control.value
        text = control.value
        if spec.optional and not text.strip():
            return None
        result = control.validate(text)
        if result is not None and not result.is_valid:
            raise FieldError(spec.key, "; ".join(result.failure_descriptions))
        return parse_int(text) if spec.kind == "int" else parse_float(text)

    def set_value(self, value: Any) -> None:
        control = self.control
        if isinstance(control, Select):
            control.value = value
        else:
            control.value = self.spec.format(value)


def field_for_message(message: str, specs: Iterable[FieldSpec]) -> str | None:
    """The key of the field a core error message is about: the field named first in it.

    Core messages name the config field they concern ("n_heads (3) must divide d_model (64)",
    "max_args (2) must be at least min_args (3)"), so the earliest mention of a key or alias wins.
    """
    best: tuple[int, str] | None = None
    for spec in specs:
        for name in (spec.key, *spec.aliases):
            m = re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", message)
            if m and (best is None or m.start() < best[0]):
                best = (m.start(), spec.key)
    return best[1] if best else None


def read_fields(rows: Sequence[FieldRow]) -> tuple[dict[str, Any], dict[str, str]]:
    """Values of every valid field and the reasons of every invalid one, by key."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for row in rows:
        try:
            values[row.spec.key] = row.value()
        except FieldError as exc:
            errors[exc.key] = exc.message
    return values, errors
