"""The dataset file: a JSON document that is checked line by line when it is read back.

Datasets are data, never code: a file is parsed with ``json`` only, every expression is re-parsed and
every answer recomputed, and the splits must still be disjoint, so a hand-edited or hostile file gives a
``DatasetError`` that names the line — never a wrong dataset. Relative paths are inside the per-user
datasets folder (``default_datasets_dir``).

Reading goes through ``core.safe_files.read_regular_file``: a FIFO (which would block for ever), a
symlink to ``/dev/zero`` (which would fill memory) or a file larger than the largest dataset this
program can write is refused before a byte is read. Every refusal is one line, whatever the file holds.

Writing is atomic and confined, because keystrokes can come from someone else (a served app, a
pasted path): the target, with every symlink and ``..`` resolved, must lie inside the datasets folder
unless the caller passes ``allow_outside=True`` (the user said yes); an existing file is replaced only
with ``overwrite=True`` (the user was asked), and only if it is itself a dataset file. A symlink, folder,
FIFO, socket or device at the target is never replaced. ``check_save_target`` tells a UI in advance
which of those questions it has to ask.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.atomic import atomic_write_text
from core.data.dataset import FORMAT, MAX_HELD_OUT, MAX_TRAIN, SPLIT_NAMES, VERSION, Dataset, DatasetConfig, Example
from core.data.expression import Expression, parse_expression
from core.data.operations import MAX_ARGS, MAX_NUMBER, OPERATIONS
from core.errors import ConfigError, DatasetError, ExpressionError
from core.paths import user_data_dir
from core.safe_files import MiB, UnsafeFileError, read_regular_file


def _longest_flat_entry_bytes() -> int:
    """Bytes of the longest example line of any flat task: the widest operation name, the most
    arguments, the largest numbers (``      ["Second(99, ..., 99)", 99],``)."""
    op = max(OPERATIONS, key=len)
    top = MAX_NUMBER
    text = f"{op}({', '.join([str(top)] * MAX_ARGS)})"
    return len("      " + json.dumps([text, top]) + ",\n")


#: The largest dataset file read or written: every split at its largest allowed size, each example as
#: long as a flat task's can be (~710 MiB), plus room for the header. A nested task that large would
#: be bigger still; saving it is refused with this limit, so everything saved can be loaded back.
MAX_DATASET_FILE_BYTES = (MAX_TRAIN + 2 * MAX_HELD_OUT) * _longest_flat_entry_bytes() + MiB

#: How much of an existing file is read to recognise a dataset file before replacing it.
_SNIFF_BYTES = 64 * 1024
_DATASET_SIGNATURE = re.compile(rf'^\s*\{{.*?"format"\s*:\s*"{re.escape(FORMAT)}"', re.DOTALL)
_MAX_MESSAGE = 400


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


def _one_line(message: str) -> str:
    """A message that stays one readable line whatever a file (or its name) held."""
    flat = message.replace("\r", "\\r").replace("\n", "\\n")
    return flat if len(flat) <= _MAX_MESSAGE else flat[: _MAX_MESSAGE - 1] + "…"


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"


@dataclass(frozen=True)
class SaveTarget:
    """Where a save would write and what it needs permission for (``check_save_target``)."""

    path: Path  #: absolute, with ``..`` and every symlinked folder resolved: what is shown and written
    inside: bool  #: inside the user's datasets folder; else saving needs ``allow_outside=True``
    exists: bool  #: a dataset file is already there; replacing it needs ``overwrite=True``
    folder: Path  #: the datasets folder, resolved (for the question a UI asks)


def check_save_target(path: str | os.PathLike[str]) -> SaveTarget:
    """Where ``save_dataset(…, path)`` would write, without writing: a ``DatasetError`` when it never
    would (a symlink, folder, FIFO, socket or device there, or a file that is not a dataset file);
    otherwise whether it is outside the datasets folder and whether it would replace a dataset file."""
    try:
        return _check_save_target(path)
    except DatasetError as exc:
        raise DatasetError(_one_line(str(exc))) from None


def _check_save_target(path: str | os.PathLike[str]) -> SaveTarget:
    p = dataset_path(path)
    try:
        folder = default_datasets_dir().resolve()
        target = p.parent.resolve() / p.name
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        raise DatasetError(f"{p}: cannot resolve the path ({exc})") from None
    text = str(path)
    if not text.strip() or text.endswith(("/", os.sep)) or p.name in ("", "..") or target == folder:
        raise DatasetError(f"{text!r} is not a file name; enter a path like max-task.json")
    inside = target.is_relative_to(folder)
    try:
        info = os.lstat(target)
    except (FileNotFoundError, NotADirectoryError):
        return SaveTarget(target, inside, False, folder)
    except OSError as exc:
        raise DatasetError(f"{target}: cannot check the path: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise DatasetError(f"{target} is {_kind(info.st_mode)}; a dataset is never saved over one")
    if not _looks_like_dataset_file(target):
        raise DatasetError(f"{target} exists and is not an llmlearn dataset file; refusing to replace it "
                           "(choose another name)")
    return SaveTarget(target, inside, True, folder)


def _looks_like_dataset_file(path: Path) -> bool:
    """Does the file start like one ``save_dataset`` wrote (or a hand-edited one): a JSON object whose
    first 64 KiB name ``"format": "llmlearn-dataset"``? Read without following a symlink or blocking."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        head = os.read(fd, _SNIFF_BYTES)
    except OSError:
        return False
    finally:
        os.close(fd)
    return _DATASET_SIGNATURE.match(head.decode("utf-8", errors="replace")) is not None


def save_dataset(dataset: Dataset, path: str | os.PathLike[str], *, overwrite: bool = False,
                 allow_outside: bool = False) -> Path:
    """Write ``dataset`` as readable JSON, one example per line, atomically, to ``dataset_path(path)``
    (a relative path goes into the user's datasets folder; missing folders on the way are created, also
    outside it once that is allowed); the path written.

    Refused (``DatasetError``, nothing written): a target outside the datasets folder unless
    ``allow_outside``; an existing dataset file unless ``overwrite``; anything that is not a dataset
    file (see ``check_save_target``) always."""
    try:
        return _save(dataset, path, overwrite, allow_outside)
    except DatasetError as exc:
        raise DatasetError(_one_line(str(exc))) from None


def _save(dataset: Dataset, path: str | os.PathLike[str], overwrite: bool, allow_outside: bool) -> Path:
    spot = _check_save_target(path)
    target = spot.path
    if not spot.inside and not allow_outside:
        raise DatasetError(f"{target} is outside the datasets folder {spot.folder}; saving there needs "
                           "permission")
    if spot.exists and not overwrite:
        raise DatasetError(f"{target} already exists; not replacing it without permission to overwrite")
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
    size = sum(map(len, parts)) + len(parts) - 1  # ASCII: json.dumps escapes everything else
    if size > MAX_DATASET_FILE_BYTES:
        raise DatasetError(f"cannot save: the file would be {size / MiB:,.0f} MiB, more than the "
                           f"{MAX_DATASET_FILE_BYTES / MiB:,.0f} MiB a dataset file may be")
    try:
        _make_folder(target.parent)
        atomic_write_text(target, "\n".join(parts))
    except OSError as exc:
        raise DatasetError(f"{target}: cannot write the dataset: {exc.strerror or exc}") from None
    return target


def _make_folder(folder: Path) -> None:
    """Create ``folder`` and its missing parents (``data/nested.json`` needs ``data/``). ``folder`` was
    resolved by the target check (no symlink in it); if one appeared since, nothing is written there."""
    folder.mkdir(parents=True, exist_ok=True)
    if folder.resolve() != folder:
        raise DatasetError(f"{folder} changed while saving (it now leads through a symbolic link); nothing "
                           "was written")


def _entry_lines(examples: Sequence[Example]) -> list[str]:
    """``["Max(5, 3, 9)", 9]`` per example, each distinct object formatted once."""
    done: dict[int, str] = {}
    out: list[str] = []
    for ex in examples:
        line = done.get(id(ex))
        if line is None:
            line = done[id(ex)] = "      " + json.dumps([ex.text, ex.answer])  # a tuple answer: a list
        out.append(line)
    return out


def load_dataset(path: str | os.PathLike[str]) -> Dataset:
    """Read a file written by ``save_dataset``, checking everything; any problem is a DatasetError
    naming the file and what is wrong (and which entry, for a bad example). A relative path is read from
    the user's datasets folder (``dataset_path``). Only a regular file of at most
    ``MAX_DATASET_FILE_BYTES`` is read (``core.safe_files``); the message is always one line."""
    try:
        return _load(dataset_path(path))
    except DatasetError as exc:
        raise DatasetError(_one_line(str(exc))) from None


def _load(p: Path) -> Dataset:
    try:
        raw = read_regular_file(p, MAX_DATASET_FILE_BYTES)
    except UnsafeFileError as exc:
        raise DatasetError(str(exc)) from None
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
    except RecursionError:
        raise DatasetError(f"{p}: not valid JSON (nested too deeply to be a dataset file)") from None
    except ValueError as exc:
        if "integer string conversion" in str(exc):  # a number longer than int_max_str_digits
            limit = sys.get_int_max_str_digits()
            raise DatasetError(f"{p}: not valid JSON (a number with more than {limit:,} digits)") from None
        raise DatasetError(f"{p}: not valid JSON ({exc})") from None
    return _from_json(data, p)


def _from_json(data: Any, p: Path) -> Dataset:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DatasetError(f'{p}: not an llmlearn dataset file (expected "format": "{FORMAT}")')
    version = data.get("version")
    if type(version) is not int or version != VERSION:
        raise DatasetError(f"{p}: unsupported dataset version {_short(version)}; this program reads version {VERSION}")
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
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str) and _is_answer(entry[1])):
            raise DatasetError(f'{p}: {name} entry {i + 1} must be ["expression", answer], got {_short(entry)}')
        text, answer = entry[0], entry[1] if type(entry[1]) is int else tuple(entry[1])
        ex = parsed.get(text)
        if ex is None:
            try:
                expr = parse_expression(text, task)
            except ExpressionError as exc:
                raise DatasetError(f"{p}: {name} entry {i + 1} {text!r}: {exc}") from None
            ex = parsed[text] = Example(expr, expr.answer())
        if answer != ex.answer:
            raise DatasetError(f"{p}: {name} entry {i + 1}: stored answer {_short(answer)} is wrong, "
                               f"{ex.text} = {ex.answer}")
        out.append(ex)
    return out


def _is_answer(value: Any) -> bool:
    """A number, or a list of numbers (Sort's answer, a JSON array)."""
    return type(value) is int or (isinstance(value, list) and all(type(v) is int for v in value))


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
