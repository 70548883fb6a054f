"""The dataset file: a JSON document that is checked line by line when it is read back.

Datasets are data, never code: a file is parsed with ``json`` only, every expression is re-parsed and
every answer recomputed, and the splits must still be disjoint, so a hand-edited or hostile file gives a
``DatasetError`` that names the line — never a wrong dataset. Writes are atomic. Relative paths are
inside the per-user datasets folder (``default_datasets_dir``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.atomic import atomic_write_text
from core.data.dataset import FORMAT, SPLIT_NAMES, VERSION, Dataset, DatasetConfig, Example
from core.data.expression import Expression, parse_expression
from core.errors import ConfigError, DatasetError, ExpressionError
from core.paths import user_data_dir


def default_datasets_dir() -> Path:
    """Where dataset files go by default: ``<user data dir>/datasets`` (see ``core.paths``)."""
    return user_data_dir() / "datasets"


class DuplicateKeyError(ValueError):
    """A JSON object names one key twice: which value was meant is unknowable, so the file is refused."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        twice = sorted({k for k in keys if keys.count(k) > 1})
        raise DuplicateKeyError(f"the key {twice[0]!r} appears twice in one object")
    return dict(pairs)


def dataset_path(path: str | os.PathLike[str]) -> Path:
    """``path`` with ``~`` expanded; a relative path is taken inside ``default_datasets_dir()``."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else default_datasets_dir() / p


def save_dataset(dataset: Dataset, path: str | os.PathLike[str]) -> None:
    """Write ``dataset`` as readable JSON, one example per line, atomically, to ``dataset_path(path)``
    (a relative path goes into the user's datasets folder, created if needed)."""
    target = dataset_path(path)
    config = dataset.config
    for name in SPLIT_NAMES:
        want, have = getattr(config, f"n_{name}"), len(dataset.split(name))
        if want != have:
            raise DatasetError(f"cannot save: the config says n_{name}={want:,} but {name} holds {have:,}")
    config_json = json.dumps(config.to_dict(), indent=2).replace("\n", "\n  ")
    parts = ["{", f'  "format": "{FORMAT}",', f'  "version": {VERSION},', f'  "config": {config_json},']
    parts.append('  "splits": {')
    for i, name in enumerate(SPLIT_NAMES):
        comma = "," if i < len(SPLIT_NAMES) - 1 else ""
        examples = dataset.split(name)
        if not examples:
            parts.append(f'    "{name}": []{comma}')
            continue
        parts.append(f'    "{name}": [')
        parts.append(",\n".join(_entry_lines(examples)))
        parts.append(f"    ]{comma}")
    parts.extend(["  }", "}", ""])
    try:
        if target.parent.resolve().is_relative_to(default_datasets_dir().resolve()):
            target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(target, "\n".join(parts))
    except OSError as exc:
        raise DatasetError(f"{target}: cannot write the dataset: {exc.strerror or exc}") from None


def _entry_lines(examples: Sequence[Example]) -> list[str]:
    """``["Max(5, 3, 9)", 9]`` per example, each distinct object formatted once."""
    done: dict[int, str] = {}
    out: list[str] = []
    for ex in examples:
        line = done.get(id(ex))
        if line is None:
            line = done[id(ex)] = "      " + json.dumps([ex.text, ex.answer])
        out.append(line)
    return out


def load_dataset(path: str | os.PathLike[str]) -> Dataset:
    """Read a file written by ``save_dataset``, checking everything; any problem is a DatasetError
    naming the file and what is wrong (and which entry, for a bad example). A relative path is read from
    the user's datasets folder (``dataset_path``)."""
    p = dataset_path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise DatasetError(f"{p}: is a directory, not a dataset file") from None
    except OSError as exc:
        raise DatasetError(f"{p}: cannot read the file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{p}: not a dataset file (not UTF-8 text, bad byte at offset {exc.start})") from None
    if not text.strip():
        raise DatasetError(f"{p}: the file is empty")
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys)
    except DuplicateKeyError as exc:
        raise DatasetError(f"{p}: not a valid dataset file: {exc}") from None
    except json.JSONDecodeError as exc:
        hint = " — the file looks truncated" if exc.pos >= len(text.rstrip()) else ""
        raise DatasetError(f"{p}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}){hint}") from None
    except (ValueError, RecursionError) as exc:
        raise DatasetError(f"{p}: not valid JSON ({exc})") from None
    return _from_json(data, p)


def _from_json(data: Any, p: Path) -> Dataset:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DatasetError(f'{p}: not an llmlearn dataset file (expected "format": "{FORMAT}")')
    version = data.get("version")
    if type(version) is not int or version != VERSION:
        raise DatasetError(f"{p}: unsupported dataset version {version!r}; this program reads version {VERSION}")
    expected = {"format", "version", "config", "splits"}
    missing = sorted(expected - set(data))
    if missing:
        raise DatasetError(f"{p}: missing {', '.join(missing)}")
    extra = sorted(set(data) - expected)
    if extra:
        raise DatasetError(f"{p}: unknown keys {', '.join(extra)}")
    try:
        config = DatasetConfig.from_dict(data["config"])
    except ConfigError as exc:
        raise DatasetError(f"{p}: bad config: {exc}") from None
    splits = data["splits"]
    if not isinstance(splits, dict) or set(splits) != set(SPLIT_NAMES):
        raise DatasetError(f"{p}: 'splits' must be an object with exactly the keys {', '.join(SPLIT_NAMES)}")
    parsed: dict[str, Example] = {}
    examples = {name: _parse_split(p, name, splits[name], config, parsed) for name in SPLIT_NAMES}
    _check_disjoint(p, examples)
    return Dataset(config, examples["train"], examples["val"], examples["test"])


def _parse_split(p: Path, name: str, entries: Any, config: DatasetConfig, parsed: dict[str, Example]) -> list[Example]:
    """Check and convert one split's entries; ``parsed`` caches examples by text across splits."""
    if not isinstance(entries, list):
        raise DatasetError(f"{p}: split {name!r} must be a list, got {type(entries).__name__}")
    want = getattr(config, f"n_{name}")
    if len(entries) != want:
        raise DatasetError(
            f"{p}: the config says n_{name}={want:,} but the file holds {len(entries):,} {name} "
            f"examples (truncated or edited?)"
        )
    task = config.task
    out: list[Example] = []
    for i, entry in enumerate(entries):
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str) and type(entry[1]) is int):
            raise DatasetError(f'{p}: {name} entry {i + 1} must be ["expression", answer], got {_short(entry)}')
        text, answer = entry
        ex = parsed.get(text)
        if ex is None:
            try:
                expr = parse_expression(text, task)
            except ExpressionError as exc:
                raise DatasetError(f"{p}: {name} entry {i + 1} {text!r}: {exc}") from None
            ex = parsed[text] = Example(expr, expr.evaluate())
        if answer != ex.answer:
            raise DatasetError(f"{p}: {name} entry {i + 1}: stored answer {answer} is wrong, {ex.text} = {ex.answer}")
        out.append(ex)
    return out


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _check_disjoint(p: Path, examples: dict[str, list[Example]]) -> None:
    """No expression in two splits; none repeated inside val or test."""
    first_seen: dict[Expression, tuple[str, int]] = {}
    for name in ("val", "test", "train"):
        for i, ex in enumerate(examples[name]):
            where = first_seen.get(ex.expression)
            if where is None:
                first_seen[ex.expression] = (name, i)
                continue
            other, j = where
            if other != name:
                raise DatasetError(
                    f"{p}: {ex.text} is in both {other} (entry {j + 1}) and {name} (entry {i + 1}); "
                    f"splits must not share expressions"
                )
            if name != "train":
                raise DatasetError(
                    f"{p}: {name} entries {j + 1} and {i + 1} are both {ex.text}; {name} must not repeat expressions"
                )
