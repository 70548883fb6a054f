"""Reading a learner's typed answer leniently: numbers as formulas, yes/no, a head, one of several options.

A learner types "2.3", "ln 10", "ln(10)", "1e-3", "10^-3", "1/4", "√16", "102,090" or "≈ 2.30" for a number;
"y", "yes", "it diverges" or "no" for yes/no; "0.1", "layer 0 head 1", "L0H1" or "0 1" for head 1 of layer 0
(layers and heads count from 0, as in the parameter names ``blocks.0…``). Each parser raises ``ValueError``
with a one-line message that says what it expected, which the exercise shows as it is.

Formulas are evaluated by walking their syntax tree (numbers, + − × ÷ ^, ln/log/log10/sqrt/exp, π and e),
never with ``eval``.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Sequence

_FUNCS = {"ln": math.log, "log": math.log, "log10": math.log10, "log2": math.log2, "sqrt": math.sqrt,
          "exp": math.exp}
_CONSTS = {"pi": math.pi, "e": math.e}
_NUMBER_HELP = "give a number such as 2.3, 1e-3, ln 10 or 1/4"


def _normalise(text: str) -> str:
    s = text.strip().lower()
    for word in ("about", "approximately", "approx.", "approx", "roughly", "≈", "~", "=", "≃"):
        s = s.removeprefix(word).strip()
    s = (s.replace("−", "-").replace("×", "*").replace("·", "*").replace("÷", "/").replace("^", "**")
         .replace("π", "pi").replace("√", "sqrt "))
    s = re.sub(r"(?<=\d)[,_ ](?=\d{3}(?!\d))", "", s)  # thousands separators: 102,090 · 102 090 · 102_090
    s = re.sub(r"(?<=\d),(?=\d)", ".", s)  # a decimal comma: 2,3
    s = re.sub(r"\b(ln|log10|log2|log|sqrt|exp)\s*([0-9.]+(?:e-?\d+)?|pi|e)\b", r"\1(\2)", s)
    s = re.sub(r"%$", "/100", s.strip())
    return s


def _eval(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.Name) and node.id in _CONSTS:
        return _CONSTS[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        v = _eval(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp):
        a, b = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Add):
            return a + b
        if isinstance(node.op, ast.Sub):
            return a - b
        if isinstance(node.op, ast.Mult):
            return a * b
        if isinstance(node.op, ast.Div):
            return a / b
        if isinstance(node.op, ast.Pow) and abs(b) <= 400 and abs(a) <= 1e12:
            return float(a**b)
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS
            and len(node.args) == 1 and not node.keywords):
        return _FUNCS[node.func.id](_eval(node.args[0]))
    raise ValueError("unsupported")


def parse_number(text: str) -> float:
    """The number ``text`` stands for; ValueError says what was expected."""
    s = _normalise(text)
    if not s:
        raise ValueError(f"no answer given: {_NUMBER_HELP}")
    if len(s) > 100:
        raise ValueError(f"that answer is too long: {_NUMBER_HELP}")
    try:
        value = _eval(ast.parse(s, mode="eval"))
    except (SyntaxError, ValueError, TypeError, ZeroDivisionError, OverflowError, RecursionError):
        raise ValueError(f"could not read {text.strip()!r} as a number: {_NUMBER_HELP}") from None
    if isinstance(value, complex) or not math.isfinite(value):
        raise ValueError(f"{text.strip()!r} is not a finite number: {_NUMBER_HELP}")
    return float(value)


_YES = {"yes", "y", "true", "t", "1", "yep", "yeah", "it will", "will", "does", "it does", "diverges", "ja", "oui"}
_NO = {"no", "n", "false", "f", "0", "nope", "it won't", "won't", "wont", "will not", "does not", "doesn't",
       "it doesn't", "no it won't", "converges", "nein", "non"}


def parse_yes_no(text: str) -> bool:
    """True for yes, False for no; ValueError otherwise."""
    s = re.sub(r"[.!]+$", "", text.strip().lower())
    if s in _YES or s.startswith("yes"):
        return True
    if s in _NO or s.startswith("no"):
        return False
    raise ValueError(f"answer yes or no, got {text.strip()!r}")


def parse_head(text: str, n_layers: int, n_heads: int) -> tuple[int, int]:
    """(layer, head) from "0.1", "layer 0 head 1", "L0H1", "0 1" or "0/1" — both counted from 0; with a
    single layer, "head 1" or "1" alone is enough. ValueError names what is wrong."""
    s = text.strip().lower()
    nums = [int(x) for x in re.findall(r"\d+", s)]
    if len(nums) == 1 and n_layers == 1:
        nums = [0, nums[0]]
    if len(nums) != 2:
        raise ValueError(f"name a head as layer.head, e.g. 0.1 or 'layer 0 head 1' (counted from 0), "
                         f"got {text.strip()!r}")
    layer, head = nums
    if "head" in s and "layer" in s and s.index("head") < s.index("layer"):
        head, layer = nums
    if not 0 <= layer < n_layers:
        raise ValueError(f"layer {layer} does not exist: this model has layers 0..{n_layers - 1}")
    if not 0 <= head < n_heads:
        raise ValueError(f"head {head} does not exist: this model has heads 0..{n_heads - 1}")
    return layer, head


def parse_choice(text: str, options: Sequence[str]) -> int:
    """The index of the chosen option: its text (any case), its letter (a, b, …) or its number (1, 2, …)."""
    s = text.strip().lower().rstrip(".)")
    for i, opt in enumerate(options):
        if s == opt.strip().lower():
            return i
    if len(s) == 1 and "a" <= s <= "z" and ord(s) - ord("a") < len(options):
        return ord(s) - ord("a")
    if s.isdigit() and 1 <= int(s) <= len(options):
        return int(s) - 1
    matches = [i for i, opt in enumerate(options) if s and s in opt.lower()]
    if len(matches) == 1:
        return matches[0]
    letters = ", ".join(f"{chr(ord('a') + i)}) {o}" for i, o in enumerate(options))
    raise ValueError(f"choose one of {letters}")
