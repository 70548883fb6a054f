"""An independent PyTorch implementation of the NumPy encoder and decoder.

Why it exists:

- **Reference for correctness.** The NumPy models hand-write every backward pass. Running the same
  weights through PyTorch's autograd gives an independent answer for the logits, the loss and every
  parameter gradient, to float64 round-off (``tests/test_torch_reference.py``). Finite differences
  only reach ~1e-6; this comparison reaches ~1e-15 and covers the whole model at once.
- **Baseline for speed.** The same architecture in PyTorch eager mode (float32, Adam) is the yardstick
  for the NumPy trainer's throughput.

It is written only with torch primitives (``nn.Linear``, ``nn.LayerNorm``, ``nn.Embedding``,
``F.scaled_dot_product_attention``, ``F.gelu``); it never calls the NumPy layers, otherwise it could
not catch their mistakes.

The module tree mirrors the NumPy parameter names (``embed``, ``pos``, ``blocks.{i}.ln1``,
``blocks.{i}.attn.qkv``, ``blocks.{i}.attn.out``, ``blocks.{i}.ffn.fc1``/``fc2``, ``blocks.{i}.ln2``,
``ln_f``, ``head``), so names map one-to-one; only the leaf differs:

- ``<linear>.w`` ↔ ``<linear>.weight``, transposed: NumPy stores (in, out) for ``y = x W + b``, torch
  (out, in); ``<linear>.b`` ↔ ``<linear>.bias`` as is;
- ``<ln>.gamma`` / ``<ln>.beta`` ↔ ``<ln>.weight`` / ``<ln>.bias``;
- ``embed.weight`` and ``pos.weight`` (learned positions) are the same (rows, d_model) tables.

The fused ``qkv`` projection uses the same column order in both: output feature
``part·d + head·d_head + j`` for part ∈ {Q, K, V}, so transposing the matrix is the whole conversion.

For speed comparisons, give both sides the same thread count (``torch.set_num_threads`` and NumPy's
BLAS threads, e.g. via ``threadpoolctl`` or ``OPENBLAS_NUM_THREADS``): on a small shared machine,
PyTorch's default OpenMP pool can stall for milliseconds per op when other processes hold the cores.

``torch`` is imported lazily: importing this module works without PyTorch installed
(see :func:`torch_available`); only building a model needs it.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np

from core.nn.config import ModelConfig

if TYPE_CHECKING:
    import torch
    from torch import nn

    from core.nn.models.factory import Model

__all__ = [
    "LAYER_NORM_EPS",
    "MASK_VALUE",
    "build_torch_model",
    "load_from_numpy",
    "sinusoidal_positions",
    "torch_available",
    "torch_grads_by_name",
]

# The same constants as the NumPy layers (core.nn.layers.attention / core.nn.layers.layernorm). They are
# repeated rather than imported so this module stays an independent statement of the architecture.
MASK_VALUE = -1e9
"""Additive attention bias at hidden keys. Finite (not −inf) like the NumPy model, so a query whose
keys are all hidden gets uniform attention instead of NaN: the two models agree even there."""
LAYER_NORM_EPS = 1e-5


@functools.cache
def torch_available() -> bool:
    """True if PyTorch can be imported (checked once). Callers use it to skip or hide torch features."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _torch_dtype(dtype: Any) -> torch.dtype:
    """Accept a ``torch.dtype`` or anything ``np.dtype`` understands (``np.float64``, ``"float32"``)."""
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    return torch.from_numpy(np.empty(0, dtype=np.dtype(dtype))).dtype


def sinusoidal_positions(max_len: int, dim: int) -> torch.Tensor:
    """Vaswani et al. table in float64: PE[t, 2i] = sin(t / 10000^(2i/d)), PE[t, 2i+1] = cos(same).

    Restated in torch (not taken from ``core.nn.layers.positional``) so the comparison checks that table
    too. ``dim`` is even (``ModelConfig`` enforces it for sinusoidal positions).
    """
    import torch

    t = torch.arange(max_len, dtype=torch.float64)[:, None]
    two_i = torch.arange(0, dim, 2, dtype=torch.float64)[None, :]
    angle = t / torch.pow(10000.0, two_i / dim)
    table = torch.empty(max_len, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angle)
    table[:, 1::2] = torch.cos(angle)
    return table


def _numpy_dtype(dtype: torch.dtype) -> np.dtype:
    import torch

    return torch.empty(0, dtype=dtype).numpy().dtype


@functools.cache
def _model_class() -> type[nn.Module]:
    """Define the ``nn.Module`` subclasses on first use, so importing this module needs no torch."""
    import torch
    import torch.nn.functional as F  # noqa: N812 (the conventional PyTorch alias)
    from torch import nn

    class SelfAttention(nn.Module):
        """Multi-head self-attention with one fused QKV projection, like the NumPy layer.

        ``F.scaled_dot_product_attention`` is PyTorch's own kernel (what a benchmark should use); it
        applies softmax(Q Kᵀ/√dₕ + bias) V with the additive float ``bias`` built by the model.
        """

        def __init__(self, d_model: int, n_heads: int) -> None:
            super().__init__()
            self.n_heads = n_heads
            self.d_head = d_model // n_heads
            self.qkv = nn.Linear(d_model, 3 * d_model)
            self.out = nn.Linear(d_model, d_model)

        def forward(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
            batch, time, d = x.shape
            # (B, T, 3d) → (3, B, H, T, dₕ): columns are [Q | K | V], each split into contiguous heads.
            qkv = self.qkv(x).view(batch, time, 3, self.n_heads, self.d_head).permute(2, 0, 3, 1, 4)
            o = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=bias)
            return self.out(o.transpose(1, 2).reshape(batch, time, d))

    class FeedForward(nn.Module):
        """y = act(x W₁ + b₁) W₂ + b₂; GELU is the tanh approximation, as in the NumPy model."""

        def __init__(self, d_model: int, d_ff: int, activation: str) -> None:
            super().__init__()
            self.fc1 = nn.Linear(d_model, d_ff)
            self.fc2 = nn.Linear(d_ff, d_model)
            self.activation = activation

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.fc1(x)
            h = F.gelu(h, approximate="tanh") if self.activation == "gelu" else F.relu(h)
            return self.fc2(h)

    class Block(nn.Module):
        """Residual block. Pre-LN: x + f(LN(x)); post-LN: LN(x + f(x)). Dropout on each sublayer output."""

        def __init__(self, c: ModelConfig) -> None:
            super().__init__()
            self.pre_ln = c.norm == "pre"
            self.ln1 = nn.LayerNorm(c.d_model, eps=LAYER_NORM_EPS)
            self.attn = SelfAttention(c.d_model, c.n_heads)
            self.ln2 = nn.LayerNorm(c.d_model, eps=LAYER_NORM_EPS)
            self.ffn = FeedForward(c.d_model, c.d_ff, c.activation)
            self.drop1 = nn.Dropout(c.dropout)
            self.drop2 = nn.Dropout(c.dropout)

        def forward(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
            if self.pre_ln:
                x = x + self.drop1(self.attn(self.ln1(x), bias))
                return x + self.drop2(self.ffn(self.ln2(x)))
            x = self.ln1(x + self.drop1(self.attn(x, bias)))
            return self.ln2(x + self.drop2(self.ffn(x)))

    class TorchTransformer(nn.Module):
        """Encoder (classifier read at position 0) or decoder (causal next-token logits at every position).

        Embedding (+ positions) → dropout → blocks → final LayerNorm (pre-LN only) → linear head.
        """

        def __init__(self, config: ModelConfig) -> None:
            super().__init__()
            c = self.config = config
            self.causal = c.kind == "decoder"
            self.embed = nn.Embedding(c.vocab_size, c.d_model)
            self.pos: nn.Embedding | None = None
            if c.positional == "learned":
                self.pos = nn.Embedding(c.max_len, c.d_model)
            else:
                # A buffer, not a parameter: fixed, moves with .to(), never sees the optimizer.
                self.register_buffer("pos_table", sinusoidal_positions(c.max_len, c.d_model), persistent=False)
            self.drop = nn.Dropout(c.dropout)
            self.blocks = nn.ModuleList(Block(c) for _ in range(c.n_layers))
            self.ln_f = nn.LayerNorm(c.d_model, eps=LAYER_NORM_EPS) if c.norm == "pre" else None
            self.head = nn.Linear(c.d_model, c.num_classes if c.kind == "encoder" else c.vocab_size)
            self._init_like_numpy()

        def _init_like_numpy(self) -> None:
            """Same distributions as the NumPy model (not the same values: use ``load_from_numpy`` for
            those), so a torch run started from scratch trains like a NumPy one: Xavier-uniform
            matrices, zero biases, N(0, 1) token embeddings, N(0, 0.5) learned positions."""
            with torch.no_grad():
                for module in self.modules():
                    if isinstance(module, nn.Linear):
                        nn.init.xavier_uniform_(module.weight)
                        nn.init.zeros_(module.bias)
                nn.init.normal_(self.embed.weight, 0.0, 1.0)
                if self.pos is not None:
                    nn.init.normal_(self.pos.weight, 0.0, 0.5)

        def attention_bias(self, pad_mask: torch.Tensor | None, time: int, dtype: torch.dtype) -> torch.Tensor | None:
            """Additive bias broadcastable to (B, H, T, T): MASK_VALUE at padding keys and, for the
            decoder, at future keys (the two add up where both apply, exactly as in NumPy)."""
            bias: torch.Tensor | None = None
            device = self.embed.weight.device
            if pad_mask is not None:
                keys = torch.zeros(pad_mask.shape, dtype=dtype, device=device)
                bias = keys.masked_fill(~pad_mask.to(device=device, dtype=torch.bool), MASK_VALUE)[:, None, None, :]
            if self.causal:
                future = torch.full((time, time), MASK_VALUE, dtype=dtype, device=device).triu(1)
                bias = future if bias is None else bias + future
            return bias

        def forward(self, tokens: torch.Tensor, pad_mask: torch.Tensor | None = None) -> torch.Tensor:
            """tokens (B, T) int, pad_mask (B, T) bool True at real tokens → logits.

            Encoder: (B, num_classes), read at position 0. Decoder: (B, T, vocab_size).
            """
            time = tokens.shape[1]
            if time > self.config.max_len:
                raise ValueError(f"sequence of {time} tokens is longer than the model's max_len {self.config.max_len}")
            x = self.embed(tokens)
            positions = self.pos.weight[:time] if self.pos is not None else self.pos_table[:time].to(x.dtype)
            x = self.drop(x + positions)
            bias = self.attention_bias(pad_mask, time, x.dtype)
            for block in self.blocks:
                x = block(x, bias)
            if self.ln_f is not None:
                x = self.ln_f(x)
            if self.causal:
                return self.head(x)
            return self.head(x[:, 0])

    return TorchTransformer


def build_torch_model(config: ModelConfig, dtype: Any = None) -> nn.Module:
    """The PyTorch twin of ``build_model(config)``: same architecture, same parameter names.

    ``dtype`` is a ``torch.dtype`` or NumPy dtype (default float32). Weights are freshly initialised
    with the NumPy model's distributions; call :func:`load_from_numpy` to copy a NumPy model's values.
    """
    import torch

    model = _model_class()(config)
    return model.to(dtype=_torch_dtype(torch.float32 if dtype is None else dtype))


def _parameter_map(torch_model: nn.Module) -> dict[str, tuple[nn.Parameter, bool]]:
    """NumPy name → (torch parameter, transpose?), found by module type rather than by string rules,
    so a module added to the mirror without a mapping fails loudly in the name check below."""
    from torch import nn

    mapping: dict[str, tuple[nn.Parameter, bool]] = {}
    for prefix, module in torch_model.named_modules():
        if isinstance(module, nn.Linear):
            mapping[f"{prefix}.w"] = (module.weight, True)
            if module.bias is not None:
                mapping[f"{prefix}.b"] = (module.bias, False)
        elif isinstance(module, nn.LayerNorm):
            mapping[f"{prefix}.gamma"] = (module.weight, False)
            mapping[f"{prefix}.beta"] = (module.bias, False)
        elif isinstance(module, nn.Embedding):
            mapping[f"{prefix}.weight"] = (module.weight, False)
    mapped = {id(p) for p, _ in mapping.values()}
    unmapped = [name for name, p in torch_model.named_parameters() if id(p) not in mapped]
    if unmapped:
        raise ValueError(f"torch parameters with no NumPy name: {unmapped}")
    return mapping


def load_from_numpy(torch_model: nn.Module, numpy_model: Model) -> None:
    """Copy every parameter of ``numpy_model`` into ``torch_model`` by name (transposing linear weights).

    Strict: the two name sets must match and every shape must agree, so a config mismatch (say, pre-LN
    vs post-LN, learned vs sinusoidal positions) is an error rather than a silently partial copy.
    """
    import torch

    mapping = _parameter_map(torch_model)
    numpy_names = set(numpy_model.params.names())
    if numpy_names != set(mapping):
        missing = sorted(numpy_names - set(mapping))
        extra = sorted(set(mapping) - numpy_names)
        raise ValueError(f"parameter names differ (only in NumPy: {missing}; only in torch: {extra})")
    with torch.no_grad():
        for p in numpy_model.params:
            target, transpose = mapping[p.name]
            value = p.value.T if transpose else p.value
            if tuple(target.shape) != value.shape:
                raise ValueError(f"{p.name}: NumPy shape {value.shape} vs torch {tuple(target.shape)}")
            target.copy_(torch.from_numpy(np.ascontiguousarray(value)))


def torch_grads_by_name(torch_model: nn.Module) -> dict[str, np.ndarray]:
    """Gradients after ``loss.backward()``, keyed by NumPy name and in NumPy layout ((in, out) weights).

    A parameter autograd never reached (``grad is None``) gets zeros, which is what the NumPy backward
    writes for it.
    """
    grads: dict[str, np.ndarray] = {}
    for name, (param, transpose) in _parameter_map(torch_model).items():
        if param.grad is None:
            g = np.zeros(tuple(param.shape), dtype=_numpy_dtype(param.dtype))
        else:
            g = param.grad.detach().cpu().numpy()
        grads[name] = np.ascontiguousarray(g.T if transpose else g)
    return grads
