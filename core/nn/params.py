"""Parameters: named arrays that live in one flat buffer.

Every parameter of a model is a view into a single contiguous ``data`` vector, and its gradient a view
into a single ``grad`` vector of the same layout. Layers read and write their own views; the optimizer,
gradient clipping and checkpoints see one long vector, so an Adam step is a handful of vector ops
instead of a Python loop over tensors.

Names are stable dotted paths (``blocks.0.attn.w_qkv``): the inspector and checkpoints key on them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

from core.errors import CheckpointError


class Parameter:
    """One named tensor and its gradient (both views into the owning store's flat buffers).

    ``decay`` says whether weight decay applies (matrices and embeddings yes; biases and LayerNorm no).
    """

    __slots__ = ("decay", "grad", "name", "offset", "shape", "value")

    def __init__(self, name: str, shape: tuple[int, ...], decay: bool) -> None:
        self.name = name
        self.shape = shape
        self.decay = decay
        self.offset = 0  # start in the store's flat buffers, set by ParameterStore.finalize
        self.value: np.ndarray = np.empty(0)
        self.grad: np.ndarray = np.empty(0)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __repr__(self) -> str:
        return f"Parameter({self.name!r}, shape={self.shape})"


class ParameterStore:
    """Collects parameters while a model is built, then packs them into flat buffers.

    Usage: layers call :meth:`create` in their constructors; the model calls :meth:`finalize` once
    at the end of its constructor. After that, ``data``/``grad`` are the flat vectors and every
    ``Parameter.value``/``.grad`` is a view into them.
    """

    def __init__(self, dtype: np.dtype | type = np.float32) -> None:
        self.dtype = np.dtype(dtype)
        self._params: dict[str, Parameter] = {}
        self._inits: dict[str, np.ndarray] = {}
        self.data: np.ndarray = np.empty(0, self.dtype)
        self.grad: np.ndarray = np.empty(0, self.dtype)
        self.decay_mask: np.ndarray = np.empty(0, self.dtype)
        self._finalized = False

    def create(self, name: str, init: np.ndarray, decay: bool) -> Parameter:
        if self._finalized:
            raise RuntimeError("cannot add parameters after finalize()")
        if name in self._params:
            raise ValueError(f"duplicate parameter name {name!r}")
        param = Parameter(name, tuple(init.shape), decay)
        self._params[name] = param
        self._inits[name] = init
        return param

    def finalize(self) -> None:
        total = sum(p.size for p in self._params.values())
        self.data = np.empty(total, self.dtype)
        self.grad = np.zeros(total, self.dtype)
        self.decay_mask = np.zeros(total, self.dtype)
        offset = 0
        for name, param in self._params.items():
            n = param.size
            self.data[offset : offset + n] = self._inits[name].ravel()
            self.decay_mask[offset : offset + n] = 1.0 if param.decay else 0.0
            param.offset = offset
            param.value = self.data[offset : offset + n].reshape(param.shape)
            param.grad = self.grad[offset : offset + n].reshape(param.shape)
            offset += n
        self._inits.clear()
        self._finalized = True

    # -- access ---------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> Parameter:
        return self._params[name]

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._params.values())

    def __len__(self) -> int:
        return len(self._params)

    def names(self) -> list[str]:
        return list(self._params)

    @property
    def num_parameters(self) -> int:
        return int(self.data.size)

    def zero_grad(self) -> None:
        self.grad.fill(0.0)

    # -- state ----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter value, by name."""
        return {name: p.value.copy() for name, p in self._params.items()}

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Copy values in, refusing missing, unexpected, mis-shaped or non-finite tensors."""
        missing = [n for n in self._params if n not in state]
        unexpected = [n for n in state if n not in self._params]
        if missing or unexpected:
            raise CheckpointError(
                f"parameter names do not match the model (missing: {missing[:5]}, unexpected: {unexpected[:5]})"
            )
        for name, param in self._params.items():
            arr = np.asarray(state[name])
            if arr.shape != param.shape:
                raise CheckpointError(f"parameter {name!r} has shape {arr.shape}, the model expects {param.shape}")
            if not np.all(np.isfinite(arr)):
                raise CheckpointError(f"parameter {name!r} holds non-finite values")
        for name, param in self._params.items():
            param.value[...] = state[name]
