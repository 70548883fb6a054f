"""Decoding strategies for the decoder model: greedy, sampling and beam search, on one prompt.

The decoder defines a distribution over answers one token at a time (chain rule):

    P(y₁ … y_n | x) = Πₜ P(yₜ | x, y₁ … yₜ₋₁),   log P = Σₜ log P(yₜ | x, y<t)

where x is the prompt (an expression's tokens and "=") and y ends with [EOS]. The strategies differ
only in how they pick yₜ from pₜ = softmax(zₜ), the distribution the model puts on the next token:

- **greedy**: yₜ = argmax pₜ. Cheap and what training accuracy measures, but a confident first step
  can lead into a low-probability continuation;
- **sample**: yₜ ~ softmax(zₜ / τ), optionally restricted to the ``top_k`` most likely tokens. τ → 0
  sharpens the distribution towards greedy, τ = 1 samples the model's own distribution, τ > 1
  flattens it. A seeded generator makes a draw reproducible;
- **beam search**: keeps the ``beam_width`` prefixes of highest log P, expands each by every token
  (all live beams in one batched forward per step), keeps the best ``beam_width`` expansions; one
  ending in [EOS] is finished and leaves the beam. Since log P only falls as tokens are added, the
  search stops once no live prefix outscores the best finished sequence, and returns that sequence.
  Width 1 is greedy decoding.

Beam search is a heuristic: when ``beam_width`` other prefixes outscore the greedy prefix it drops out
of the beam, and those prefixes may then end badly, so the textbook search can return a *lower*
log-probability than greedy (rare here: none in 1,200 prompts to small trained and untrained test
models, but ``tests/test_probing_generation.py`` builds a case). By default
the greedy continuation rides along in the same batch as a fallback hypothesis, so "beam" is never
worse than "greedy" in the probe; ``keep_greedy=False`` gives the textbook search. Every result
reports its log-probability under the model at τ = 1, so strategies compare.

The model runs in evaluation mode (dropout off) and its training flag is restored afterwards; its
weights are never written. Each step re-runs the whole prefix (no key/value cache): answers are at
most three tokens long, so that costs nothing worth the complexity.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from core.data.answer_format import decode_answer
from core.data.expression import Expression, parse_expression
from core.data.operations import Answer
from core.data.task import TaskConfig
from core.data.vocab import VOCAB
from core.errors import ConfigError, ExpressionError
from core.nn.layers.softmax import log_softmax
from core.nn.models.decoder import TransformerDecoder
from core.nn.models.factory import Model

STRATEGIES: tuple[str, ...] = ("greedy", "sample", "beam")
#: How many candidate tokens each step of a result lists (for the token-by-token view).
DEFAULT_CANDIDATES = 5

StepCandidates = list[tuple[str, float]]  # (token, probability), most likely first


@dataclass
class Hypothesis:
    """One sequence a beam search considered: its generated tokens and log P under the model."""

    tokens: list[str]
    log_prob: float
    finished: bool  # ended with [EOS]
    answer: Answer | None
    source: str = "beam"  # "beam", or "greedy" for the greedy sequence when the beam lost it

    @property
    def probability(self) -> float:
        return math.exp(self.log_prob)


@dataclass
class GenerationResult:
    """What one strategy generated for one prompt.

    ``log_prob`` is Σₜ log P(yₜ | x, y<t) under the model itself (temperature 1, no top-k), whatever
    distribution the strategy actually drew from, so the results of different strategies compare.
    ``steps[t]`` lists the most likely next tokens at step t of the generated sequence, with their
    model probabilities; ``token_probs[t]`` is the probability of the token that was chosen.
    """

    text: str = ""
    strategy: str = ""
    expression: Expression | None = None
    truth: Answer | None = None
    prompt: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)  # generated tokens, [EOS] included when produced
    token_ids: list[int] = field(default_factory=list)
    answer: Answer | None = None  # the number (Sort: list) the tokens spell before [EOS]; None if none
    log_prob: float = float("nan")
    token_probs: list[float] = field(default_factory=list)
    steps: list[StepCandidates] = field(default_factory=list)
    finished: bool = False  # the sequence ended with [EOS] within the token budget
    beams: list[Hypothesis] = field(default_factory=list)  # beam search: the final hypotheses, best first
    error: str | None = None
    #: sampling: at step t, the most likely tokens of the distribution the token was actually drawn
    #: from — softmax(log pₜ / τ) over the top-k tokens — with their probabilities there
    drawn_steps: list[StepCandidates] = field(default_factory=list)
    drawn_probs: list[float] = field(default_factory=list)  # sampling: q(chosen token) at each step
    temperature: float = 1.0  # sampling: τ
    top_k: int = 0  # sampling: k (0 = all tokens)

    @property
    def probability(self) -> float:
        """P(generated sequence | prompt) = exp(log_prob)."""
        return math.exp(self.log_prob) if math.isfinite(self.log_prob) else 0.0

    @property
    def correct(self) -> bool:
        return self.error is None and self.answer is not None and self.answer == self.truth


# -- shared machinery ----------------------------------------------------------------------------------
def _next_log_probs(model: TransformerDecoder, seqs: np.ndarray) -> np.ndarray:
    """Rows of equal length (B, L) → log pₜ of the token after each row, (B, V) in float64.

    One forward for the whole batch. Rows are unpadded (all have the same length), so no mask is
    needed.
    """
    return log_softmax(model.forward(seqs)[:, -1].astype(np.float64))


def _candidates(log_probs: np.ndarray, n: int) -> StepCandidates:
    """The ``n`` most likely tokens of one distribution, ties broken by token id."""
    order = np.argsort(-log_probs, kind="stable")[:n]
    return [(VOCAB.tokens[int(t)], float(np.exp(log_probs[t]))) for t in order]


def _answer(ids: Sequence[int], list_valued: bool = False) -> Answer | None:
    return decode_answer(ids, list_valued)


def _check_prompt(model: TransformerDecoder, prompt: Sequence[int], max_new_tokens: int) -> np.ndarray:
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ConfigError(f"max_new_tokens must be a positive integer, got {max_new_tokens!r}")
    ids = np.asarray(prompt, dtype=np.int64)
    if ids.ndim != 1 or ids.size == 0:
        raise ConfigError("the prompt must be a non-empty sequence of token ids")
    if ids.size + max_new_tokens - 1 > model.config.max_len:
        raise ConfigError(f"a prompt of {ids.size} tokens plus {max_new_tokens} new ones exceeds the model's "
                          f"max_len ({model.config.max_len})")
    return ids


def _check_sampling(temperature: float, top_k: int) -> None:
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not (
            math.isfinite(temperature) and temperature >= 0):
        raise ConfigError(f"temperature must be a finite number ≥ 0, got {temperature!r}")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
        raise ConfigError(f"top_k must be a non-negative integer (0 = all tokens), got {top_k!r}")


def _check_width(beam_width: int) -> None:
    if isinstance(beam_width, bool) or not isinstance(beam_width, int) or beam_width < 1:
        raise ConfigError(f"beam_width must be a positive integer, got {beam_width!r}")


def _result(ids: list[int], log_prob: float, token_probs: list[float], steps: list[StepCandidates],
            strategy: str) -> GenerationResult:
    return GenerationResult(strategy=strategy, tokens=VOCAB.decode(ids), token_ids=list(ids), answer=_answer(ids),
                            log_prob=log_prob, token_probs=token_probs, steps=steps,
                            finished=bool(ids) and ids[-1] == VOCAB.eos_id)


def _one_by_one(model: TransformerDecoder, prompt: np.ndarray, max_new_tokens: int,
                choose: Callable[[np.ndarray], int], n_candidates: int, strategy: str,
                drawn_from: Callable[[np.ndarray], np.ndarray] | None = None) -> GenerationResult:
    """The loop greedy and sampling share: ``choose(log pₜ) → token id`` until [EOS] or the budget.
    ``drawn_from(log pₜ)`` (sampling) gives the log-probabilities of the distribution a token is drawn
    from; its candidates and the chosen token's probability there are recorded too."""
    seq = prompt.tolist()
    ids: list[int] = []
    token_probs: list[float] = []
    steps: list[StepCandidates] = []
    drawn_steps: list[StepCandidates] = []
    drawn_probs: list[float] = []
    total = 0.0
    with model.eval_mode():
        for _ in range(max_new_tokens):
            lp = _next_log_probs(model, np.asarray([seq], dtype=np.int64))[0]
            tok = int(choose(lp))
            steps.append(_candidates(lp, n_candidates))
            if drawn_from is not None:
                q = drawn_from(lp)
                drawn_steps.append(_candidates(q, n_candidates))
                drawn_probs.append(float(np.exp(q[tok])))
            token_probs.append(float(np.exp(lp[tok])))
            total += float(lp[tok])
            ids.append(tok)
            seq.append(tok)
            if tok == VOCAB.eos_id:
                break
    result = _result(ids, total, token_probs, steps, strategy)
    result.drawn_steps, result.drawn_probs = drawn_steps, drawn_probs
    return result


# -- the strategies ------------------------------------------------------------------------------------
def greedy(model: TransformerDecoder, prompt: Sequence[int], max_new_tokens: int,
           n_candidates: int = DEFAULT_CANDIDATES) -> GenerationResult:
    """yₜ = argmax pₜ (lowest id on a tie, like ``np.argmax``), until [EOS] or ``max_new_tokens``."""
    ids = _check_prompt(model, prompt, max_new_tokens)
    return _one_by_one(model, ids, max_new_tokens, lambda lp: int(np.argmax(lp)), n_candidates, "greedy")


def sample(model: TransformerDecoder, prompt: Sequence[int], max_new_tokens: int, temperature: float = 1.0,
           top_k: int = 0, seed: int = 0, n_candidates: int = DEFAULT_CANDIDATES) -> GenerationResult:
    """yₜ ~ q ∝ exp(log pₜ / τ) over the ``top_k`` most likely tokens (all when ``top_k`` is 0).

    Dividing log-probabilities rather than logits by τ gives the same q (they differ by a constant
    per step). τ = 0 is greedy. The draw is by inverse CDF, y = min{i : Σ_{j≤i} q_j > u·Σq} with
    u ~ U[0, 1) from ``np.random.default_rng(seed)``, so a token of zero mass is never drawn and
    the same seed gives the same sequence.
    """
    ids = _check_prompt(model, prompt, max_new_tokens)
    _check_sampling(temperature, top_k)
    rng = np.random.default_rng(seed)

    def drawn_from(lp: np.ndarray) -> np.ndarray:
        """log q: the tempered, top-k restricted distribution (τ = 0: all mass on the argmax)."""
        if temperature == 0:
            q = np.full_like(lp, -np.inf)
            q[int(np.argmax(lp))] = 0.0
            return q
        # (lp − max)/τ: the best token gets exactly 0, others −x/τ ≤ 0, so no overflow for any τ > 0.
        z = (lp - lp.max()) / temperature
        if 0 < top_k < z.size:
            z[np.argsort(-lp, kind="stable")[top_k:]] = -np.inf
        return z - np.log(np.sum(np.exp(z)))

    def choose(lp: np.ndarray) -> int:
        if temperature == 0:
            return int(np.argmax(lp))
        z = (lp - lp.max()) / temperature
        if 0 < top_k < z.size:
            z[np.argsort(-lp, kind="stable")[top_k:]] = -np.inf
        cdf = np.cumsum(np.exp(z))
        return int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))

    result = _one_by_one(model, ids, max_new_tokens, choose, n_candidates, "sample", drawn_from)
    result.temperature, result.top_k = float(temperature), int(top_k)
    return result


@dataclass
class _Beam:
    ids: list[int]
    log_prob: float
    token_probs: list[float]
    steps: list[StepCandidates]
    source: str = "beam"

    def child(self, tok: int, lp: np.ndarray, n_candidates: int) -> _Beam:
        """This prefix extended by ``tok``, given log pₜ (V,) after the prefix: s + log pₜ(tok)."""
        return _Beam([*self.ids, tok], self.log_prob + float(lp[tok]), [*self.token_probs, float(np.exp(lp[tok]))],
                     [*self.steps, _candidates(lp, n_candidates)], self.source)

    @property
    def finished(self) -> bool:
        return bool(self.ids) and self.ids[-1] == VOCAB.eos_id


def beam_search(model: TransformerDecoder, prompt: Sequence[int], beam_width: int = 3, max_new_tokens: int = 3,
                n_candidates: int = DEFAULT_CANDIDATES, keep_greedy: bool = True) -> GenerationResult:
    """The best finished sequence (by Σ log P) that a beam of ``beam_width`` prefixes finds.

    Step t scores every expansion (live beam b, token v) by s_b + log pₜ(v | b), from one forward over
    all live beams (shape (beams, prefix length)), and keeps the ``beam_width`` best (ties: lowest
    beam, then lowest token id). Those ending in [EOS] join the finished set and leave the beam, so
    it shrinks as hypotheses finish; width 1 is exactly greedy decoding. The search stops when the
    beam is empty, the token budget is spent, or no live beam outscores the best finished sequence
    (s only falls as tokens are added, so none could overtake it — stopping then changes nothing).

    Plain beam search can end *below* greedy: when ``beam_width`` other prefixes outscore the greedy
    prefix it falls out of the beam, and those prefixes may then end badly. With ``keep_greedy`` (the
    default) the greedy continuation rides along as one more row of each step's batch and counts as a
    hypothesis, so the result is never worse than a finished greedy sequence (up to float32 rounding,
    which differs slightly with the batch size); ``keep_greedy=False`` is the textbook search.

    If nothing finishes within ``max_new_tokens``, the best unfinished prefix is returned with
    ``finished`` False. ``beams`` lists every finished hypothesis, then the unfinished ones, best first;
    ``Hypothesis.source`` says whether the beam or only the greedy row found it.
    """
    _check_width(beam_width)
    ids = _check_prompt(model, prompt, max_new_tokens).tolist()
    vocab_size = model.config.vocab_size
    live = [_Beam([], 0.0, [], [])]
    finished: list[_Beam] = []
    guide: _Beam | None = _Beam([], 0.0, [], [], "greedy") if keep_greedy else None
    with model.eval_mode():
        for _ in range(max_new_tokens):
            rows = live + ([guide] if guide is not None and not guide.finished else [])
            # All rows hold the same number of generated tokens, so they stack without padding.
            lp = _next_log_probs(model, np.asarray([[*ids, *b.ids] for b in rows], dtype=np.int64))
            if len(rows) > len(live):  # the greedy row, last in the batch
                assert guide is not None
                guide = guide.child(int(np.argmax(lp[-1])), lp[-1], n_candidates)
            if live:
                scores = np.asarray([b.log_prob for b in live])[:, None] + lp[: len(live)]
                expanded: list[_Beam] = []
                for flat in np.argsort(-scores.ravel(), kind="stable")[:beam_width].tolist():
                    parent, tok = divmod(flat, vocab_size)  # bookkeeping for ≤ beam_width survivors
                    child = live[parent].child(tok, lp[parent], n_candidates)
                    (finished if child.finished else expanded).append(child)
                live = expanded
            bar = max([f.log_prob for f in finished] + ([guide.log_prob] if guide and guide.finished else []),
                      default=-math.inf)
            running = [b.log_prob for b in live] + ([guide.log_prob] if guide and not guide.finished else [])
            if not running or max(running) <= bar:
                break
    done = sorted(finished, key=lambda b: -b.log_prob)
    open_ = sorted(live, key=lambda b: -b.log_prob)
    if guide is not None and guide.ids not in [b.ids for b in done + open_]:
        (done if guide.finished else open_).append(guide)
        done.sort(key=lambda b: -b.log_prob)
        open_.sort(key=lambda b: -b.log_prob)
    pool = done + open_
    winner = pool[0]
    result = _result(winner.ids, winner.log_prob, winner.token_probs, winner.steps, "beam")
    result.beams = [Hypothesis(VOCAB.decode(b.ids), b.log_prob, b.finished, _answer(b.ids), b.source) for b in pool]
    return result


# -- from typed text -----------------------------------------------------------------------------------
def generate_answer(model: Model, task: TaskConfig, text: str, strategy: str = "greedy", temperature: float = 1.0,
                    top_k: int = 0, beam_width: int = 3, seed: int = 0,
                    n_candidates: int = DEFAULT_CANDIDATES, keep_greedy: bool = True) -> GenerationResult:
    """Parse ``text`` against ``task`` and answer it with ``strategy`` ("greedy", "sample" or "beam").

    A text that does not parse, or is too long for the model, comes back with ``error`` set (never
    raised), like ``core.probe.inference.predict``. Bad options (unknown strategy, negative temperature, …)
    raise ``ConfigError``; an encoder model raises ``TypeError`` (it classifies, it does not generate).
    At most ``task.max_answer_tokens + 1`` tokens are generated: the longest answer and its [EOS].
    """
    if not isinstance(model, TransformerDecoder):
        raise TypeError(f"generation needs a decoder model, got {type(model).__name__}")
    if strategy not in STRATEGIES:
        raise ConfigError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if strategy == "sample":
        _check_sampling(temperature, top_k)
    elif strategy == "beam":
        _check_width(beam_width)
    result = GenerationResult(text=text, strategy=strategy)
    try:
        expression = parse_expression(text, task)
    except ExpressionError as exc:
        result.error = str(exc)
        return result
    prompt = model.prompt_ids(expression)  # the expression's tokens and "="
    max_new = task.max_answer_tokens + 1
    if not model.fits(expression, task):
        result.expression, result.truth = expression, expression.answer()
        result.error = "expression is too long for this model"
        return result
    if strategy == "greedy":
        out = greedy(model, prompt, max_new, n_candidates)
    elif strategy == "sample":
        out = sample(model, prompt, max_new, temperature, top_k, seed, n_candidates)
    else:
        out = beam_search(model, prompt, beam_width, max_new, n_candidates, keep_greedy)
    out.text, out.expression, out.truth = text, expression, expression.answer()
    if expression.list_valued:  # the tokens spell a list: read them (and every beam's) as one
        out.answer = _answer(out.token_ids, True)
        for hyp in out.beams:
            hyp.answer = _answer(VOCAB.encode(hyp.tokens), True)
    out.prompt = VOCAB.decode(prompt)
    return out
