"""On-demand gradient check of a whole model, for the inspector: is backprop right, tensor by tensor?

It compares each parameter tensor's backpropagated gradient with central finite differences,

    ∂L/∂θᵢ ≈ (L(θ + h·eᵢ) − L(θ − h·eᵢ)) / 2h,   error O(h²) (≈ 1e-12 relative at h = 1e-6 in float64),

where L is the training loss (cross-entropy of ``core.train.objective.forward_loss``) on a small batch. A
full check needs two forwards per parameter — 200K forwards at 100K parameters — so each tensor is
checked on a sample of at most ``max_elements_per_tensor`` elements: the element of largest
|analytic gradient| (the one a wrong formula most visibly gets wrong), three quarters of the rest
drawn from elements with a non-zero analytic gradient, and a quarter drawn from any element (so a
gradient that backprop *misses* — analytic 0 where the loss does depend on it — can show up too).

The error of a tensor follows ``core.nn.gradcheck.relative_error`` restricted to the sample:

    err = maxᵢ∈S |aᵢ − nᵢ| / max(maxⱼ |aⱼ| over the whole tensor, maxᵢ∈S |nᵢ|)

Scaling by the whole tensor's largest analytic gradient (not by each element's own) keeps elements
whose true gradient is ~0, where finite differences only measure round-off, from blowing up the ratio.

By default the batch's targets are replaced by random ones (drawn once, so L is still a fixed
function of θ). Backprop's correctness does not depend on the targets, but its *checkability* does:
a trained model fits the true answers so well that ∂L/∂θ shrinks to ~1e-4 while the round-off of L
stays ≈ 1e-15, and the finite-difference error ≈ round-off / h then reaches 1e-6 of the gradient —
a failing check of a correct backward. Random targets keep the gradients O(1) (errors ≈ 1e-8).
``random_targets=False`` checks the real objective.

Finite differences need float64 (in float32, L's round-off ≈ 1e-7·|L| swamps the h² term), so the
check runs on a float64 *copy* of the model — same config, seed and weights (float32 → float64 is
exact) — and never reads more than the original's config and weight buffer. The copy runs in training
mode by default, so it checks exactly the computation a training step differentiates (e.g. the
encoder's position-0-only last layer); its random generator is rewound before every forward, so
dropout draws the same masks each time and L stays a deterministic function of θ.

A perturbation that moves a ReLU input across 0 makes L non-differentiable inside [θ − h, θ + h];
with h = 1e-6 that is rare, but it is why a single element can show an error far above the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from core.data.batching import Batch, encode_examples, make_batch
from core.data.dataset import Example
from core.data.expression import parse_expression
from core.data.sampling import ExpressionSampler
from core.data.task import TaskConfig
from core.errors import ConfigError
from core.nn.gradcheck import numerical_gradient_at
from core.nn.models.factory import Model, copy_model
from core.train.objective import forward_loss

#: progress(tensors done, tensors in total, name of the tensor just checked)
ProgressCallback = Callable[[int, int, str], None]

DEFAULT_ELEMENTS = 20
DEFAULT_TOLERANCE = 1e-6


@dataclass(frozen=True)
class TensorCheck:
    """The check of one parameter tensor."""

    name: str
    shape: tuple[int, ...]
    size: int
    checked: int  # elements compared
    max_rel_error: float  # see the module docstring; 0.0 when the tensor has no gradient at all
    max_abs_error: float  # maxᵢ∈S |aᵢ − nᵢ|
    grad_scale: float  # the denominator: max |analytic| over the tensor, or |numeric| over the sample
    passed: bool  # max_rel_error ≤ the report's tolerance


@dataclass(frozen=True)
class GradCheckReport:
    rows: list[TensorCheck]
    loss: float  # L at the weights, on the check batch
    batch_size: int
    n_parameters: int
    n_checked: int  # elements compared, over all tensors
    tolerance: float
    training: bool  # whether the training-mode computation was checked
    random_targets: bool  # whether L used random targets instead of the batch's answers
    seconds: float

    @property
    def max_error(self) -> float:
        return max((r.max_rel_error for r in self.rows), default=0.0)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rows)

    @property
    def worst(self) -> TensorCheck | None:
        return max(self.rows, key=lambda r: r.max_rel_error, default=None)


def check_batch(task: TaskConfig, kind: str, n: int = 4, seed: int = 0, texts: Sequence[str] | None = None) -> Batch:
    """A small batch for the check: ``texts`` parsed against ``task``, or ``n`` expressions drawn from
    it (operations in turn), with one extra all-PAD column so padding masks are always exercised.

    An unparsable text raises ``ExpressionError``.
    """
    if texts is not None:
        expressions = [parse_expression(t, task) for t in texts]
        if not expressions:
            raise ConfigError("the gradient check needs at least one expression")
    else:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"the check batch needs a positive number of expressions, got {n!r}")
        sampler = ExpressionSampler(task)
        keys = sampler.draw(np.random.default_rng(seed), np.arange(n) % len(task.operations))
        expressions = [sampler.build(k) for k in keys]
    split = encode_examples([Example(e, e.evaluate()) for e in expressions], task, kind)
    return make_batch(split, np.arange(len(split)), extra_padding=1)


def _random_targets(batch: Batch, model: Model, rng: np.random.Generator) -> Batch:
    """The batch with uniformly random targets: classes for the encoder; for the decoder, tokens at the
    scored positions (the loss mask is kept, so the same positions count)."""
    if batch.loss_mask is None:
        return replace(batch, targets=rng.integers(0, model.config.num_classes, batch.targets.shape))
    drawn = rng.integers(0, model.config.vocab_size, batch.targets.shape)
    return replace(batch, targets=np.where(batch.loss_mask > 0, drawn, batch.targets))


def _sample_indices(analytic: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k element indices: the largest |aᵢ|, then mostly elements with aᵢ ≠ 0, a quarter from anywhere."""
    size = analytic.size
    chosen = dict.fromkeys([int(np.argmax(np.abs(analytic)))])
    want_nonzero = k - k // 4
    for i in rng.permutation(np.flatnonzero(analytic)).tolist():
        if len(chosen) >= want_nonzero:
            break
        chosen[i] = None
    for i in rng.permutation(size).tolist():
        if len(chosen) >= k:
            break
        chosen[i] = None
    return np.fromiter(chosen, dtype=np.int64, count=len(chosen))


def gradient_check(
    model: Model,
    batch: Batch | Sequence[str] | None = None,
    task: TaskConfig | None = None,
    *,
    max_elements_per_tensor: int = DEFAULT_ELEMENTS,
    tolerance: float = DEFAULT_TOLERANCE,
    h: float = 1e-6,
    training: bool = True,
    random_targets: bool = True,
    seed: int = 0,
    progress: ProgressCallback | None = None,
) -> GradCheckReport:
    """Check every parameter tensor of ``model`` (see the module docstring); one row per tensor, in
    the model's parameter order.

    ``batch``: a ``Batch`` of the model's kind, or expression texts (parsed against ``task``), or None
    to draw four expressions from ``task``. ``training`` checks the training-mode computation (default)
    or the evaluation-mode one; ``random_targets`` swaps the targets for random ones (see the module
    docstring). ``progress`` is called after each tensor. ``model`` is never modified:
    not its weights, gradients, caches, random generator or mode.
    """
    if isinstance(max_elements_per_tensor, bool) or not isinstance(max_elements_per_tensor, int) or (
            max_elements_per_tensor < 1):
        raise ConfigError(f"max_elements_per_tensor must be a positive integer, got {max_elements_per_tensor!r}")
    if not (isinstance(h, float | int) and 0 < h < 1):
        raise ConfigError(f"the finite-difference step h must be in (0, 1), got {h!r}")
    kind = model.kind
    if not isinstance(batch, Batch):
        if task is None:
            raise ConfigError("the gradient check needs a task to draw or parse its expressions")
        batch = check_batch(task, kind, seed=seed, texts=None if batch is None else list(batch))
    if (batch.loss_mask is not None) != (kind == "decoder"):
        raise ConfigError(f"the check batch was made for the other model kind (this model is an {kind})")
    if random_targets:
        batch = _random_targets(batch, model, np.random.default_rng([seed, 1]))
    start = time.perf_counter()
    copy = copy_model(model, dtype=np.float64, training=training)  # same config, seed and weights
    rng_state = copy.rng.bit_generator.state

    def loss() -> float:
        copy.rng.bit_generator.state = rng_state  # same dropout masks on every forward
        return forward_loss(copy, batch).loss

    copy.rng.bit_generator.state = rng_state
    result = forward_loss(copy, batch)
    copy.params.zero_grad()
    copy.backward(result.dlogits)
    analytic_all = copy.params.grad.copy()

    params = list(copy.params)
    rows: list[TensorCheck] = []
    data = copy.params.data
    for n, p in enumerate(params):
        analytic = analytic_all[p.offset : p.offset + p.size]
        idx = _sample_indices(analytic, min(max_elements_per_tensor, p.size), np.random.default_rng([seed, n]))
        numeric = numerical_gradient_at(loss, data, p.offset + idx, h)
        abs_err = float(np.max(np.abs(analytic[idx] - numeric)))
        scale = max(float(np.max(np.abs(analytic), initial=0.0)), float(np.max(np.abs(numeric), initial=0.0)))
        rel = 0.0 if scale < 1e-12 else abs_err / scale
        rows.append(TensorCheck(p.name, p.shape, p.size, int(idx.size), rel, abs_err, scale, rel <= tolerance))
        if progress is not None:
            progress(n + 1, len(params), p.name)
    return GradCheckReport(rows, result.loss, int(batch.tokens.shape[0]), copy.num_parameters,
                           sum(r.checked for r in rows), tolerance, training, random_targets,
                           time.perf_counter() - start)
