"""The NumPy models against an independent PyTorch implementation (``tests.torch_mirror``), in float64.

Same weights in both → the logits at real positions, the loss (with and without label smoothing) and
every parameter's gradient must agree to round-off: max |numpy − torch| ≤ 1e-9 · max(1, scale), scale
being the largest magnitude of the torch value. Unlike finite differences (~1e-6), this checks the whole
hand-written backward pass at once and to near machine precision.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from core.nn.config import ModelConfig
from core.nn.loss import cross_entropy
from core.nn.models import build_model
from core.nn.models.factory import Model
from tests.torch_mirror import build_torch_model, load_from_numpy, torch_grads_by_name

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = 1e-9
BATCH, TIME = 4, 7
LENGTHS = (7, 5, 3, 1)  # one full row, three right-padded ones (one with a single real token)
PAD = 0


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """These models are tiny: one thread is fastest, and it avoids OpenMP barrier stalls (~0.1 s per op
    seen here) when another process is busy on the same cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@dataclass
class Result:
    logits: np.ndarray
    loss: float
    grads: dict[str, np.ndarray]


def _max_err(ours: np.ndarray, ref: np.ndarray) -> float:
    """max |ours − ref| measured against max(1, max |ref|)."""
    assert ours.shape == ref.shape
    scale = max(1.0, float(np.max(np.abs(ref), initial=0.0)))
    return float(np.max(np.abs(ours - ref), initial=0.0)) / scale


def _batch(config: ModelConfig, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Right-padded tokens (B, T), pad_mask, targets and loss weights (None for the encoder).

    Decoder targets are the next tokens; the loss weights cover only some real positions (as the
    answer-only loss mask does), never padding.
    """
    rng = np.random.default_rng(seed)
    pad_mask = np.arange(TIME)[None, :] < np.array(LENGTHS)[:, None]
    tokens = np.where(pad_mask, rng.integers(1, config.vocab_size, (BATCH, TIME)), PAD)
    if config.kind == "encoder":
        return tokens, pad_mask, rng.integers(0, config.num_classes, BATCH), None
    targets = np.full((BATCH, TIME), PAD)
    targets[:, :-1] = tokens[:, 1:]
    weights = (pad_mask & (rng.random((BATCH, TIME)) < 0.6)).astype(np.float64)
    weights[:, 0] = 1.0  # every row contributes at least one position (row 3 has only position 0)
    weights[0, TIME - 1] = 1.0  # and the last position of the full row, whose query sees every key
    return tokens, pad_mask, targets, weights


def _flat(config: ModelConfig, logits: np.ndarray) -> np.ndarray:
    return logits if config.kind == "encoder" else logits.reshape(BATCH * TIME, -1)


def _run_numpy(
    model: Model,
    tokens: np.ndarray,
    pad_mask: np.ndarray,
    targets: np.ndarray,
    weights: np.ndarray | None,
    smoothing: float,
) -> Result:
    model.params.zero_grad()
    logits = model.forward(tokens, pad_mask)
    w = None if weights is None else weights.reshape(-1)
    loss, dlogits = cross_entropy(_flat(model.config, logits), targets.reshape(-1), w, smoothing)
    model.backward(dlogits.reshape(logits.shape))
    return Result(logits.copy(), loss, {p.name: p.grad.copy() for p in model.params})


def _run_torch(
    tmodel: torch.nn.Module,
    tokens: np.ndarray,
    pad_mask: np.ndarray,
    targets: np.ndarray,
    weights: np.ndarray | None,
    smoothing: float,
) -> Result:
    tmodel.zero_grad(set_to_none=True)
    logits = tmodel(torch.from_numpy(tokens), torch.from_numpy(pad_mask))
    flat = logits if weights is None else logits.reshape(BATCH * TIME, -1)
    per_row = F.cross_entropy(flat, torch.from_numpy(targets.reshape(-1)), reduction="none", label_smoothing=smoothing)
    if weights is None:
        loss = per_row.mean()
    else:
        w = torch.from_numpy(weights.reshape(-1))
        loss = (per_row * w).sum() / w.sum()
    loss.backward()
    return Result(logits.detach().numpy().copy(), loss.item(), torch_grads_by_name(tmodel))


def _compare(config: ModelConfig, seed: int = 0) -> dict[str, float]:
    """Run both models on the same batch and weights; return the worst error of each quantity."""
    model = build_model(config, seed, dtype=np.float64)
    model.train(False)
    tmodel = build_torch_model(config, torch.float64)
    tmodel.eval()
    load_from_numpy(tmodel, model)
    tokens, pad_mask, targets, weights = _batch(config, seed + 1)
    worst = {"logits": 0.0, "loss": 0.0, "grad": 0.0}
    for smoothing in (0.0, 0.1):
        ours = _run_numpy(model, tokens, pad_mask, targets, weights, smoothing)
        ref = _run_torch(tmodel, tokens, pad_mask, targets, weights, smoothing)
        # Encoder logits are read at position 0 (always real); decoder logits only matter where real.
        real = slice(None) if config.kind == "encoder" else pad_mask
        worst["logits"] = max(worst["logits"], _max_err(ours.logits[real], ref.logits[real]))
        worst["loss"] = max(worst["loss"], _max_err(np.array(ours.loss), np.array(ref.loss)))
        assert set(ours.grads) == set(ref.grads), "the two models must have the same parameter names"
        errors = {name: _max_err(ours.grads[name], ref.grads[name]) for name in ours.grads}
        bad = {name: err for name, err in errors.items() if err > TOL}
        assert not bad, f"gradients differ (smoothing {smoothing}): {bad}"
        worst["grad"] = max(worst["grad"], *errors.values())
        assert any(np.abs(g).max() > 1e-3 for g in ref.grads.values()), "degenerate test: no gradient"
    return worst


VARIANTS = [
    pytest.param("relu", "sinusoidal", id="relu-sinusoidal"),
    pytest.param("gelu", "learned", id="gelu-learned"),
]


@pytest.mark.parametrize("kind", ["encoder", "decoder"])
@pytest.mark.parametrize("norm", ["pre", "post"])
@pytest.mark.parametrize(("activation", "positional"), VARIANTS)
def test_matches_pytorch(kind: str, norm: str, activation: str, positional: str) -> None:
    config = ModelConfig(
        kind=kind,
        d_model=16,
        n_layers=2,
        n_heads=2 if activation == "relu" else 4,
        d_ff=32,
        norm=norm,
        activation=activation,
        positional=positional,
        max_len=12,
    )
    worst = _compare(config)
    print(f"{kind}/{norm}/{activation}/{positional}: " + ", ".join(f"{k} {v:.1e}" for k, v in worst.items()))
    assert worst["logits"] <= TOL
    assert worst["loss"] <= TOL
    assert worst["grad"] <= TOL


def test_matches_pytorch_at_reference_size() -> None:
    config = ModelConfig(kind="encoder", d_model=64, n_layers=2, n_heads=4, d_ff=256)
    worst = _compare(config, seed=3)
    print("reference encoder: " + ", ".join(f"{k} {v:.1e}" for k, v in worst.items()))
    assert max(worst.values()) <= TOL


def test_padding_does_not_change_torch_outputs() -> None:
    """Sanity check of the mirror itself: extra right padding leaves real-position outputs unchanged."""
    config = ModelConfig(kind="decoder", d_model=16, n_layers=2, n_heads=4, d_ff=32, max_len=12)
    tmodel = build_torch_model(config, torch.float64).eval()
    tokens = torch.tensor([[3, 4, 5, 6]])
    short = tmodel(tokens, torch.ones(1, 4, dtype=torch.bool))
    padded = torch.cat([tokens, torch.zeros(1, 3, dtype=torch.long)], dim=1)
    mask = torch.tensor([[True] * 4 + [False] * 3])
    long = tmodel(padded, mask)
    assert torch.allclose(short, long[:, :4], atol=1e-12)


def test_load_rejects_mismatched_config() -> None:
    numpy_model = build_model(ModelConfig(d_model=16, n_heads=2, d_ff=32, norm="pre"), 0, np.float64)
    tmodel = build_torch_model(ModelConfig(d_model=16, n_heads=2, d_ff=32, norm="post"), torch.float64)
    with pytest.raises(ValueError, match="ln_f"):
        load_from_numpy(tmodel, numpy_model)


def test_module_imports_without_torch() -> None:
    """The workbench imports the mirror unconditionally; it must not need PyTorch until a model is built."""
    code = "import sys; sys.modules['torch'] = None\nimport tests.torch_mirror as m\nassert not m.torch_available()\n"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parent.parent)
