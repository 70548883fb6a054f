"""The lessons of the Learn pane: Markdown files shipped in this package, parsed into parts a UI can render.

A lesson is ``NN-slug.md``: its first line is ``# Title``; the rest is Markdown with two kinds of fenced
block that come alive in the workbench::

    ```live                         ```exercise
    cell: attention_qk              id: fresh-loss
    expression: Max(3, 7, 2)        check: fresh_loss
    layer: 0                        question: What loss do you expect before any training?
    head: 1                         answer: number
    ```                             ```

A ``live`` block names a cell kind of ``core.probe.lesson_cells`` (``cell``), an optional ``expression``
and the kind's parameters; an ``exercise`` block names a check of ``core.probe.exercises`` (``check``),
its ``id`` (unique in the lesson), the ``question``, the ``answer`` kind (number, yesno, head or choice —
it must be the check's), for a choice ``options: a | b | c`` and ``correct``, an optional ``hint``, and the
check's parameters. Code references in the text, `` `core/nn/layers/attention.py::attention_bias` ``
(file::function or file::Class.method), point at the code that does what the text explains; the tests
resolve every one of them.

Everything is checked when a lesson loads: a malformed file raises ``LessonError`` (a ``ConfigError``),
one line naming the file and the line.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import ConfigError
from core.probe.exercises import CHECKS, check_params
from core.probe.lesson_cells import DEFAULT_EXPRESSION, check_cell_params

LESSONS_DIR = Path(__file__).resolve().parent
SOURCE_ROOT = LESSONS_DIR.parent.parent  # where core/ and workbench/ live
_FILE = re.compile(r"^(\d{2})-([a-z0-9]+(?:-[a-z0-9]+)*)\.md$")
_CODE_REF = re.compile(r"`([\w./-]+\.py)::([A-Za-z_][\w.]*)`")


class LessonError(ConfigError):
    """A lesson file is malformed; the message names the file and the line."""

    def __init__(self, path: Path | str, line: int, message: str) -> None:
        self.path, self.line = Path(path), line
        super().__init__(f"{Path(path).name}:{line}: {message}")


@dataclass(frozen=True)
class Markdown:
    text: str
    line: int


@dataclass(frozen=True)
class LiveCell:
    """``compute_cell(kind, model, expression, task, **params)`` computes it."""

    kind: str
    params: dict[str, str]
    expression: str
    line: int


@dataclass(frozen=True)
class Exercise:
    """``check_exercise(check, context, answer, options, **params)`` checks an answer."""

    id: str
    check: str
    question: str
    answer_kind: str
    options: tuple[str, ...] = ()
    params: dict[str, str] = field(default_factory=dict)
    hint: str = ""
    line: int = 0


Part = Markdown | LiveCell | Exercise


@dataclass(frozen=True)
class CodeRef:
    path: str  # relative to the source root, e.g. core/nn/layers/attention.py
    name: str  # function, Class or Class.method
    line: int  # where the lesson cites it


@dataclass
class Lesson:
    number: int
    slug: str
    title: str
    path: Path
    parts: list[Part]

    @property
    def key(self) -> str:
        """"NN-slug": the lesson's name in the learner's progress."""
        return f"{self.number:02d}-{self.slug}"

    @property
    def cells(self) -> list[LiveCell]:
        return [p for p in self.parts if isinstance(p, LiveCell)]

    @property
    def exercises(self) -> list[Exercise]:
        return [p for p in self.parts if isinstance(p, Exercise)]

    @property
    def code_refs(self) -> list[CodeRef]:
        return [CodeRef(m.group(1), m.group(2), p.line + p.text[: m.start()].count("\n"))
                for p in self.parts if isinstance(p, Markdown) for m in _CODE_REF.finditer(p.text)]


def _block(path: Path, lines: list[str], start: int) -> tuple[dict[str, tuple[str, int]], int]:
    """The ``key: value`` lines of the block opened at line index ``start``; returns them and the index of
    the closing fence."""
    values: dict[str, tuple[str, int]] = {}
    i = start + 1
    while i < len(lines):
        raw = lines[i]
        if raw.strip() == "```":
            return values, i
        if raw.strip():
            key, sep, value = raw.partition(":")
            key = key.strip()
            if not sep or not re.fullmatch(r"[a-z_][a-z0-9_]*", key):
                raise LessonError(path, i + 1, f"expected 'key: value' in the block, got {raw.strip()!r}")
            if key in values:
                raise LessonError(path, i + 1, f"{key!r} is given twice")
            values[key] = (value.strip(), i + 1)
        i += 1
    raise LessonError(path, start + 1, "this block is never closed with ```")


def _live(path: Path, values: dict[str, tuple[str, int]], line: int) -> LiveCell:
    if "cell" not in values:
        raise LessonError(path, line, "a live block needs 'cell: KIND'")
    kind = values.pop("cell")[0]
    expression = values.pop("expression", (DEFAULT_EXPRESSION, line))[0]
    params = {k: v for k, (v, _) in values.items()}
    try:
        check_cell_params(kind, params)
    except ConfigError as exc:
        msg = str(exc)
        bad = next((n for k, (_, n) in values.items() if f"'{k}'" in msg or msg.startswith(f"{k} ")), line)
        raise LessonError(path, bad, str(exc)) from None
    return LiveCell(kind, params, expression, line)


def _exercise(path: Path, values: dict[str, tuple[str, int]], line: int) -> Exercise:
    for key in ("id", "check", "question", "answer"):
        if key not in values or not values[key][0]:
            raise LessonError(path, line, f"an exercise needs '{key}:'")
    ex_id, check = values.pop("id")[0], values.pop("check")
    question, (answer, answer_line) = values.pop("question")[0], values.pop("answer")
    if check[0] not in CHECKS:
        raise LessonError(path, check[1], f"unknown check {check[0]!r}; known checks: {', '.join(CHECKS)}")
    if answer != CHECKS[check[0]].answer_kind:
        raise LessonError(path, answer_line, f"check {check[0]} takes a {CHECKS[check[0]].answer_kind} answer, "
                                             f"not {answer!r}")
    opts = values.pop("options", ("", line))[0]
    options = tuple(o.strip() for o in opts.split("|") if o.strip())
    hint = values.pop("hint", ("", line))[0]
    params = {k: v for k, (v, _) in values.items()}
    try:
        check_params(check[0], params, options)
    except ConfigError as exc:
        raise LessonError(path, line, str(exc)) from None
    return Exercise(ex_id, check[0], question, answer, options, params, hint, line)


def parse_lesson(path: Path | str, text: str | None = None) -> Lesson:
    """Parse one lesson file (or ``text`` as if it were that file); LessonError on anything malformed."""
    path = Path(path)
    match = _FILE.match(path.name)
    if match is None:
        raise LessonError(path, 1, "a lesson file is named NN-slug.md (two digits, lower-case words)")
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise LessonError(path, 1, f"cannot read the lesson: {exc}") from None
    lines = text.splitlines()
    if not lines or not lines[0].startswith("# ") or not lines[0][2:].strip():
        raise LessonError(path, 1, "a lesson starts with its title: '# Title'")
    parts: list[Part] = []
    ids: set[str] = set()
    buf: list[str] = []
    buf_start = 2
    i = 1
    while i < len(lines):
        fence = lines[i].strip()
        if fence in ("```live", "```exercise"):
            if "".join(buf).strip():
                parts.append(Markdown("\n".join(buf).strip("\n"), buf_start))
            values, end = _block(path, lines, i)
            if fence == "```live":
                parts.append(_live(path, values, i + 1))
            else:
                ex = _exercise(path, values, i + 1)
                if ex.id in ids:
                    raise LessonError(path, i + 1, f"exercise id {ex.id!r} is used twice in this lesson")
                ids.add(ex.id)
                parts.append(ex)
            buf, buf_start, i = [], end + 2, end + 1
            continue
        if fence.startswith("```live") or fence.startswith("```exercise"):
            raise LessonError(path, i + 1, f"unknown block {fence!r}: write ```live or ```exercise alone")
        if not buf:
            buf_start = i + 1
        buf.append(lines[i])
        i += 1
    if "".join(buf).strip():
        parts.append(Markdown("\n".join(buf).strip("\n"), buf_start))
    return Lesson(int(match.group(1)), match.group(2), lines[0][2:].strip(), path, parts)


def load_lessons(directory: Path | None = None) -> list[Lesson]:
    """Every lesson of ``directory`` (default: the shipped ones), ordered by number."""
    directory = directory or LESSONS_DIR
    lessons = [parse_lesson(p) for p in sorted(directory.glob("*.md"))]
    seen: dict[int, Path] = {}
    for lesson in lessons:
        if lesson.number in seen:
            raise LessonError(lesson.path, 1, f"lesson number {lesson.number:02d} is also {seen[lesson.number].name}")
        seen[lesson.number] = lesson.path
    return sorted(lessons, key=lambda x: x.number)


def resolve_code_ref(ref: CodeRef, root: Path = SOURCE_ROOT) -> int:
    """The line where ``ref``'s function, class or method is defined; LessonError if it is not there."""
    file = root / ref.path
    try:
        tree = ast.parse(file.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        raise LessonError(ref.path, ref.line, f"code reference to a file that cannot be read: {ref.path}") from None
    body: list[ast.stmt] = tree.body
    node: ast.stmt | None = None
    for name in ref.name.split("."):
        node = next((n for n in body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                     and n.name == name), None)
        if node is None:
            raise LessonError(ref.path, ref.line, f"{ref.path} defines no {ref.name}")
        body = node.body if isinstance(node, ast.ClassDef) else []
    assert node is not None
    return node.lineno
