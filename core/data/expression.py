"""Expressions such as ``Max(5, 3, 9)``: the value type, its tokens, and a parser for typed input.

The parser is hand-written (tokenizer + recursive descent) rather than a regex so that every way a
typed expression can be wrong gets its own message and the exact column, which the workbench shows
under the input with a caret. It never raises anything but ``ExpressionError`` for a string.
"""

from __future__ import annotations

import difflib
import re
import string
from dataclasses import dataclass

from core.data.operations import (
    LIST_VALUED,
    MAX_ARGS,
    MAX_NUMBER,
    MIN_ARGS,
    MODULAR,
    OPERATIONS,
    Answer,
    apply_operation,
    canonical_operation,
)
from core.data.task import TaskConfig
from core.errors import ExpressionError

MAX_INPUT_CHARS = 500
_NUMBER_TOKENS: tuple[tuple[str, ...], ...] = tuple(tuple(str(v)) for v in range(MAX_NUMBER + 1))


@dataclass(frozen=True, slots=True)
class Expression:
    """An operation applied to numbers (0..99) or, for nested tasks, to other expressions.

    ``modulus`` is the modulus of a modular operation (``Sum``: its task's max_value + 1; 0 = none, the
    plain sum). It is not written in the text: the parser and the generators take it from the task.
    """

    op: str
    args: tuple[int | Expression, ...]
    modulus: int = 0

    def __post_init__(self) -> None:
        # Constructing a bad expression in code is refused here, so every Expression is evaluable.
        if self.op not in OPERATIONS:
            raise ExpressionError(
                f"unknown operation {self.op!r}; known operations: {', '.join(OPERATIONS)}", str(self.op)
            )
        args = self.args
        if type(args) is not tuple:
            if not isinstance(args, list | tuple):
                raise ExpressionError(f"arguments of {self.op} must be a tuple, got {type(args).__name__}")
            args = tuple(args)
            object.__setattr__(self, "args", args)
        if not MIN_ARGS[self.op] <= len(args) <= MAX_ARGS:
            raise ExpressionError(f"{self.op} takes {MIN_ARGS[self.op]} to {MAX_ARGS} arguments, got {len(args)}")
        for a in args:
            if type(a) is int:
                if not 0 <= a <= MAX_NUMBER:
                    raise ExpressionError(f"number {a} is out of range 0..{MAX_NUMBER}")
            elif not isinstance(a, Expression):
                raise ExpressionError(f"an argument must be an int or an Expression, got {a!r}")
            elif a.op in LIST_VALUED:
                raise ExpressionError(f"{a}: {a.op}'s answer is a list, so it cannot be an argument of {self.op}")
        if type(self.modulus) is not int or self.modulus < 0:
            raise ExpressionError(f"the modulus must be a whole number ≥ 0, got {self.modulus!r}")
        if self.modulus and self.op not in MODULAR:
            object.__setattr__(self, "modulus", 0)  # only modular operations have one

    def answer(self) -> Answer:
        """The answer the model should produce: a number, or a tuple of numbers for a list-valued
        operation (``Sort(8, 2, 4)`` → ``(2, 4, 8)``)."""
        values = [a.evaluate() if isinstance(a, Expression) else a for a in self.args]
        return apply_operation(self.op, values, self.modulus)

    def evaluate(self) -> int:
        """The number this expression stands for (what it is worth as an argument). A list-valued
        expression (Sort) stands for no single number: ``answer()`` gives its list."""
        value = self.answer()
        if not isinstance(value, int):
            raise ExpressionError(f"{self}: {self.op}'s answer is a list of numbers, not one number", str(self))
        return value

    @property
    def list_valued(self) -> bool:
        """Whether the answer is a list (Sort) rather than a number."""
        return self.op in LIST_VALUED

    def tokens(self) -> list[str]:
        """Model tokens, numbers digit by digit: ``Max(5, 42)`` → Max ( 5 , 4 2 )."""
        out = [self.op, "("]
        for a in self.args:
            if isinstance(a, Expression):
                out.extend(a.tokens())
            else:
                out.extend(_NUMBER_TOKENS[a])
            out.append(",")
        out[-1] = ")"  # the comma after the last argument becomes the closing parenthesis
        return out

    def __str__(self) -> str:
        return f"{self.op}({', '.join(map(str, self.args))})"

    @property
    def depth(self) -> int:
        """1 for a flat expression, 1 + the deepest argument otherwise."""
        return 1 + max((a.depth for a in self.args if isinstance(a, Expression)), default=0)

    @property
    def n_args(self) -> int:
        """Number of top-level arguments."""
        return len(self.args)


# ---------------------------------------------------------------------------------------------------
# Tokenizer: turns text into (kind, text, position) triples. Characters that cannot start any token
# become "bad" tokens instead of failing at once, so the parser reports problems in reading order.

_DIGITS = frozenset(string.digits)
_NAME_START = frozenset(string.ascii_letters + "_")
_NAME_CHARS = frozenset(string.ascii_letters + string.digits + "_")
_PUNCT = frozenset("(),-")


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "name", "number", "(", ")", ",", "-", "bad", "end"
    text: str
    pos: int


def _tokenize(text: str) -> list[_Token]:
    out: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in _PUNCT:
            out.append(_Token(c, c, i))
            i += 1
        elif c in _DIGITS:
            j = i + 1
            while j < n and text[j] in _DIGITS:
                j += 1
            out.append(_Token("number", text[i:j], i))
            i = j
        elif c in _NAME_START:
            j = i + 1
            while j < n and text[j] in _NAME_CHARS:
                j += 1
            out.append(_Token("name", text[i:j], i))
            i = j
        else:
            out.append(_Token("bad", c, i))
            i += 1
    out.append(_Token("end", "", n))
    return out


def _describe(tok: _Token) -> str:
    """How a token is named in messages."""
    if tok.kind == "end":
        return "the end of the input"
    if tok.kind == "number":
        return f"the number {tok.text}"
    return repr(tok.text)


# ---------------------------------------------------------------------------------------------------
# Parser.


class _Parser:
    """Recursive descent over the grammar ``expr := NAME "(" arg ("," arg)* ")"``, ``arg := NUMBER | expr``."""

    def __init__(self, text: str, task: TaskConfig | None) -> None:
        self.text = text
        self.task = task
        self.toks = _tokenize(text)
        self.i = 0
        self.max_number = task.max_value if task is not None else MAX_NUMBER

    def fail(self, message: str, pos: int | None) -> ExpressionError:
        return ExpressionError(message, self.text, pos)

    def peek(self) -> _Token:
        return self.toks[self.i]

    def take(self) -> _Token:
        tok = self.toks[self.i]
        if tok.kind != "end":
            self.i += 1
        return tok

    def unexpected(self, tok: _Token, expected: str) -> ExpressionError:
        if tok.kind == "bad":
            if tok.text == ".":
                return self.fail("only whole numbers are allowed (no decimal point)", tok.pos)
            return self.fail(f"unexpected character {tok.text!r}; expected {expected}", tok.pos)
        return self.fail(f"expected {expected}, found {_describe(tok)}", tok.pos)

    def parse(self) -> Expression:
        if self.peek().kind == "end":
            raise self.fail("empty input: type an expression such as Max(3, 7, 2)", 0)
        expr = self.expression(depth=1)
        tok = self.peek()
        if tok.kind != "end":
            raise self.fail(f"unexpected {_describe(tok)} after the end of the expression {expr}", tok.pos)
        return expr

    def operation(self, tok: _Token) -> str:
        """Resolve an operation name (any capitalisation), checking it exists and is in the task."""
        op = canonical_operation(tok.text)
        if op is None:
            known = list(OPERATIONS)
            close = difflib.get_close_matches(tok.text.lower(), [k.lower() for k in known], n=1)
            hint = f" (did you mean {canonical_operation(close[0])}?)" if close else ""
            raise self.fail(f"unknown operation {tok.text!r}{hint}; the operations are {', '.join(known)}", tok.pos)
        if self.task is not None and op not in self.task.operations:
            raise self.fail(f"{op} is not part of this task, which uses {', '.join(self.task.operations)} "
                            f"(e.g. {self.task.example_expression()})", tok.pos)
        return op

    def expression(self, depth: int) -> Expression:
        tok = self.take()
        if tok.kind != "name":
            if tok.kind == "number" and depth == 1:
                raise self.fail(f"expected an operation such as Max(…), found the number {tok.text}", tok.pos)
            raise self.unexpected(tok, "an operation name such as Max")
        op = self.operation(tok)
        if self.task is not None and depth > self.task.max_depth:
            if self.task.max_depth == 1:
                raise self.fail("nested expressions are not part of this task", tok.pos)
            raise self.fail(
                f"expression nests deeper than this task allows (at most {self.task.max_depth} levels)",
                tok.pos,
            )
        opener = self.take()
        if opener.kind != "(":
            raise self.unexpected(opener, f"'(' after {op}")
        lo, hi = self.task.arg_range(op) if self.task is not None else (MIN_ARGS[op], MAX_ARGS)
        args: list[int | Expression] = []
        while True:
            args.append(self.argument(op, len(args), hi, depth))
            sep = self.take()
            if sep.kind == ")":
                break
            if sep.kind == ",":
                continue
            if sep.kind == "end":
                raise self.fail(f"missing ')' to close {op}( opened at column {opener.pos + 1}", sep.pos)
            raise self.unexpected(sep, "',' or ')' after an argument")
        if len(args) < lo:
            raise self.fail(f"too few arguments: {op} needs at least {lo}{self.in_task()}, got {len(args)}", sep.pos)
        return Expression(op, tuple(args), modulus_of(op, self.task))

    def in_task(self) -> str:
        return " in this task" if self.task is not None else ""

    def argument(self, op: str, index: int, hi: int, depth: int) -> int | Expression:
        tok = self.peek()
        if tok.kind in (")", ",", "end"):
            if tok.kind == ")" and index == 0:
                raise self.fail(f"missing argument: {op}() has no arguments", tok.pos)
            if tok.kind == "end":
                raise self.fail("missing argument: the input ended where an argument was expected", tok.pos)
            raise self.fail(f"missing argument before {tok.text!r}", tok.pos)
        if index >= hi:
            raise self.fail(f"too many arguments: {op} takes at most {hi}{self.in_task()}", tok.pos)
        if tok.kind == "name":
            sub = self.expression(depth + 1)
            if sub.op in LIST_VALUED:
                raise self.fail(f"{sub.op}'s answer is a list, so it cannot be an argument of {op}", tok.pos)
            return sub
        if tok.kind == "number":
            self.take()
            return self.number(tok)
        if tok.kind == "-":
            after = self.toks[self.i + 1]
            if after.kind == "number":
                raise self.fail(f"negative numbers are not allowed: numbers go from 0 to {self.max_number}", tok.pos)
        raise self.unexpected(tok, "a number or an expression")

    def number(self, tok: _Token) -> int:
        digits = tok.text
        if len(digits) > 1 and digits[0] == "0":
            raise self.fail(
                f"numbers are written without leading zeros: write {digits.lstrip('0') or '0'}, not {digits}",
                tok.pos,
            )
        if len(digits) > len(str(self.max_number)) or int(digits) > self.max_number:
            raise self.fail(
                f"number {digits} is out of range: numbers go from 0 to {self.max_number}{self.in_task()}",
                tok.pos,
            )
        return int(digits)


def parse_expression(text: str, task: TaskConfig | None = None) -> Expression:
    """Parse typed input such as ``max(3, 7,2)`` into an Expression, optionally checked against a task.

    Without a task: numbers 0..99, each operation's minimum argument count up to 10, any nesting.
    With a task: its operations, numbers, argument counts and nesting depth.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_expression needs a str, got {type(text).__name__}")
    if len(text) > MAX_INPUT_CHARS:
        raise ExpressionError(f"input is too long ({len(text)} characters; the limit is {MAX_INPUT_CHARS})", text, None)
    fast = _parse_canonical_flat(text, task)
    return fast if fast is not None else _Parser(text, task).parse()


# Canonical flat text (what ``str(Expression)`` and dataset files contain): numbers without leading
# zeros, at most two digits, ", " between arguments.
_CANONICAL_FLAT = re.compile(r"([A-Za-z]+)\(((?:0|[1-9][0-9]?)(?:, (?:0|[1-9][0-9]?))*)\)")


def _parse_canonical_flat(text: str, task: TaskConfig | None) -> Expression | None:
    """The Expression for valid canonical flat text, else None (the full parser then decides).

    Loading a million-line dataset file is dominated by parsing, and this covers every line that
    ``save_dataset`` writes at a fraction of the tokenizer's cost. It only ever accepts input the full
    parser accepts too, with the same result (tested); every error still comes from the full parser.
    """
    m = _CANONICAL_FLAT.fullmatch(text)
    if m is None:
        return None
    op = canonical_operation(m.group(1))
    if op is None:
        return None
    numbers = tuple(map(int, m.group(2).split(", ")))
    if task is None:
        lo, hi, largest = MIN_ARGS[op], MAX_ARGS, MAX_NUMBER
    elif op in task.operations:
        (lo, hi), largest = task.arg_range(op), task.max_value
    else:
        return None
    if not lo <= len(numbers) <= hi or max(numbers) > largest:
        return None
    return Expression(op, numbers, modulus_of(op, task))


def modulus_of(op: str, task: TaskConfig | None) -> int:
    """The modulus an ``op`` expression of ``task`` has: the task's for a modular operation, else 0."""
    return task.modulus if task is not None and op in MODULAR else 0
