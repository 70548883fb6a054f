"""Answer typed expressions the way the inference console does: one result per expression, never raising.

``answer_texts`` runs ``predict`` on all the texts (one batch: the answer, its probabilities, the
tokens and the attention used), then, for a decoder, the chosen decoding strategy per text
(``generate_answer``: greedy, sampling or beam search), and the logit lens of the last answered text.
Every failure — an unparsable expression, one outside the model's task, a bad decoding option, even
an unexpected exception — becomes the result's ``error`` (a one-line reason), so a batch with one bad
line still answers the others and nothing typed can end the program that asked.

``parse_options`` turns the texts of a decoding form into ``ProbeOptions`` (``ValueError`` names the
bad field); ``split_inputs`` splits one submission into its expressions (``;`` or newlines).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.data.operations import Answer
from core.data.task import TaskConfig
from core.data.vocab import VOCAB
from core.errors import LLMLearnError
from core.nn.models.factory import Model
from core.probe.generation import STRATEGIES, GenerationResult, generate_answer
from core.probe.inference import Prediction, attention_over, predict
from core.probe.logit_lens import LogitLensResult, logit_lens

TOP_K = 5  # answers (encoder) or tokens (decoder) listed per result
_SEPARATORS = re.compile(r"[;\r\n]+")


@dataclass(frozen=True)
class ProbeOptions:
    """How a decoder generates (ignored by encoders, which classify in one step)."""

    strategy: str = "greedy"
    temperature: float = 1.0
    top_k: int = 0  # sampling: keep the k most likely tokens (0 = all)
    beam_width: int = 3
    seed: int = 0  # sampling draws


def draw_seed(seed: int, index: int) -> int:
    """The sampling seed of the ``index``-th expression of one submission: its own draw (the same
    expression twice in one ``;`` batch gets two samples), still reproducible from ``seed``."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def parse_options(strategy: object, temperature: str, top_k: str, beam_width: str, seed: int = 0) -> ProbeOptions:
    """Options from the form's texts; ``ValueError`` names the bad one."""
    if strategy not in STRATEGIES:
        raise ValueError(f"decoding strategy must be one of {', '.join(STRATEGIES)}")
    try:
        t = float(temperature.strip() or "1")
    except ValueError:
        raise ValueError(f"temperature must be a number ≥ 0, got {temperature.strip()!r}") from None
    if not (math.isfinite(t) and t >= 0):
        raise ValueError(f"temperature must be a finite number ≥ 0, got {temperature.strip()!r}")
    k = _parse_int("top-k", top_k, 0, default=0)
    w = _parse_int("beam width", beam_width, 1, default=3)
    return ProbeOptions(str(strategy), t, k, w, seed)


def _parse_int(name: str, text: str, lo: int, default: int) -> int:
    s = text.strip()
    if not s:
        return default
    try:
        v = int(s)
    except ValueError:
        raise ValueError(f"{name} must be a whole number ≥ {lo}, got {s!r}") from None
    if v < lo or v > 1000:
        raise ValueError(f"{name} must be between {lo} and 1000, got {v}")
    return v


def split_inputs(text: str) -> list[str]:
    """The expressions of one submission: separated by ``;`` or newlines, blanks dropped."""
    return [p.strip() for p in _SEPARATORS.split(text) if p.strip()]


@dataclass
class ProbeResult:
    """Everything shown for one typed expression. ``error`` set means it was not answered."""

    text: str
    kind: str = ""
    prediction: Prediction | None = None  # answer, probabilities, tokens and attention
    generation: GenerationResult | None = None  # decoder: the chosen strategy's sequence
    lens: LogitLensResult | None = None
    error: str | None = None
    error_position: int | None = None  # a parse error's 0-based column in ``text`` (a caret goes under it)
    label: str = ""  # which model answered
    example: str = ""  # an expression of that model's task (``TaskConfig.example_expression``), for hints
    #: decoder: the strategy whose generated sequence ``prediction.tokens`` / ``.attention`` cover
    #: ("greedy", "sample" or "beam": the one shown, once the chosen strategy has generated)
    attention_of: str = ""

    @property
    def answer(self) -> Answer | None:
        if self.generation is not None:
            return self.generation.answer
        return None if self.prediction is None else self.prediction.answer

    @property
    def truth(self) -> Answer | None:
        return None if self.prediction is None else self.prediction.truth

    @property
    def correct(self) -> bool:
        return self.error is None and self.answer is not None and self.answer == self.truth


def _internal(exc: Exception) -> str:
    return f"internal error: {type(exc).__name__}: {exc}"


def _follow_generation(model: Model, r: ProbeResult) -> None:
    """Make ``r``'s tokens and attention those of the sequence its strategy generated (beam search or
    a sample may differ from the greedy one ``predict`` drew), so the map is of the answer shown."""
    g, p = r.generation, r.prediction
    if g is None or p is None or p.expression is None or g.strategy == "greedy":
        return
    prompt = model.prompt_ids(p.expression)
    ids = [*prompt, *g.token_ids]
    if p.tokens != VOCAB.decode(ids):
        try:
            p.attention = attention_over(model, ids)
        except Exception:  # keep the greedy map, still labelled as the greedy one
            return
        p.tokens = VOCAB.decode(ids)
    r.attention_of = g.strategy


def answer_texts(model: Model, task: TaskConfig, texts: Sequence[str], options: ProbeOptions, label: str = "",
                 details: bool = True) -> list[ProbeResult]:
    """Answer ``texts`` with ``model``: ``predict`` for all (one batch; attention, top-k), the decoding
    strategy per text for a decoder, and the logit lens of the last answered one (``details``).
    Never raises: any failure becomes the result's ``error``."""
    kind = model.config.kind
    example = task.example_expression()
    results = [ProbeResult(text=t, kind=kind, label=label, example=example) for t in texts]
    try:
        predictions = predict(model, task, list(texts), top_k=TOP_K)
    except Exception as exc:  # a bug, not a user error: still one line, never a crash
        for r in results:
            r.error = _internal(exc)
        return results
    for i, (r, p) in enumerate(zip(results, predictions, strict=True)):
        r.prediction = p
        if p.error:
            r.error, r.error_position = p.error, p.error_position
            continue
        if kind == "decoder":
            try:
                r.generation = generate_answer(model, task, r.text, options.strategy, options.temperature,
                                               options.top_k, options.beam_width, draw_seed(options.seed, i))
            except (LLMLearnError, TypeError) as exc:
                r.error = str(exc)
                continue
            except Exception as exc:
                r.error = _internal(exc)
                continue
            if r.generation.error:
                r.error = r.generation.error
                continue
            r.attention_of = "greedy"
            _follow_generation(model, r)
    if details:
        answered = [r for r in results if r.error is None]
        if answered:
            last = answered[-1]
            try:
                last.lens = logit_lens(model, task, last.text)
            except Exception as exc:
                last.lens = LogitLensResult(text=last.text, error=_internal(exc))
    return results
