"""Activation patching: which activations carry the information that makes the clean answer the answer.

Run the model on a clean input (answer c) and on a corrupted one of the same length (answer c'); measure the
logit difference at the answer position, LD = z[c] − z[c']. Then run the corrupted input again, but with one
activation taken from the clean run — the residual stream at one (layer, position), or one head's output at
every position — and see how much of the clean logit difference comes back:

    recovered = (LD_patched − LD_corrupt) / (LD_clean − LD_corrupt)      1: all of it, 0: none

(Meng et al. 2022, "causal tracing"; Wang et al. 2022 for heads.) Every patch of one layer runs as one
batched forward, one sequence per position or per head (``Knockout`` with per-sequence masks). Patching the
clean run with its own activations recovers 1 everywhere and the corrupted run with its own 0 (tested).

For the decoder the input is the prompt and the answers' common first tokens (teacher-forced), and the
logits compared are those of the first token where the two answers differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.data.answer_format import answer_tokens, format_answer
from core.data.expression import Expression, parse_expression
from core.data.operations import Answer
from core.data.task import TaskConfig
from core.data.vocab import VOCAB
from core.errors import LabError
from core.nn.layers.hooks import Knockout
from core.nn.models.factory import Model
from core.probe.lab.activations import Point, forward_all, hooked, record

#: |LD_clean − LD_corrupt| below this leaves nothing to recover
MIN_DIFFERENCE = 1e-6


def residual_point(layer_state: int, n_layers: int) -> Point:
    """Where residual state hₗ is (l = 0: embeddings, entering block 0; l ≥ 1: leaving block l − 1)."""
    return (0, "resid_pre") if layer_state == 0 else (layer_state - 1, "resid_post")


def residual_labels(n_layers: int) -> list[str]:
    return ["embeddings"] + [f"after block {i}" for i in range(n_layers)]


@dataclass
class PatchingResult:
    clean: str
    corrupt: str
    clean_answer: Answer
    corrupt_answer: Answer
    tokens: list[str]  # the clean input, as the model reads it
    corrupt_tokens: list[str]
    position: int  # where the logits are read
    compared: tuple[str, str]  # the two outputs whose logit difference is measured (clean's, corrupt's)
    clean_difference: float
    corrupt_difference: float
    residual: np.ndarray  # (L + 1, T) recovered fraction
    heads: np.ndarray  # (L, H)
    residual_labels: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"clean": self.clean, "corrupt": self.corrupt, "clean_answer": self.clean_answer,
                "corrupt_answer": self.corrupt_answer, "tokens": self.tokens, "corrupt_tokens": self.corrupt_tokens,
                "position": self.position, "compared": list(self.compared),
                "clean_logit_difference": self.clean_difference,
                "corrupt_logit_difference": self.corrupt_difference,
                "residual_labels": self.residual_labels, "residual": self.residual.tolist(),
                "heads": self.heads.tolist()}


def _inputs(model: Model, clean: Expression, corrupt: Expression) -> tuple[list[int], list[int], int, int, int]:
    """Both inputs' ids, the read position and the two compared output indices."""
    if clean.answer() == corrupt.answer():
        raise LabError(f"{clean} and {corrupt} have the same answer ({format_answer(clean.answer())}): patching "
                       "measures how much of the difference between two answers comes back; corrupt the input so the "
                       "answer changes")
    a, b = model.prompt_ids(clean), model.prompt_ids(corrupt)
    if len(a) != len(b):
        raise LabError(f"{clean} has {len(a)} tokens and {corrupt} {len(b)}: patching needs inputs of the same "
                       "length so positions line up (keep each number's digit count)")
    if model.kind == "encoder":
        return a, b, 0, clean.evaluate(), corrupt.evaluate()
    ta = [*VOCAB.encode(answer_tokens(clean.answer())), VOCAB.eos_id]
    tb = [*VOCAB.encode(answer_tokens(corrupt.answer())), VOCAB.eos_id]
    k = next(i for i, (x, y) in enumerate(zip(ta, tb, strict=False)) if x != y)  # EOS ends both: they differ
    return a + ta[:k], b + ta[:k], len(a) + k - 1, ta[k], tb[k]


def _differences(logits: np.ndarray, position: int, c: int, c2: int, encoder: bool) -> np.ndarray:
    z = logits if encoder else logits[:, position]
    z = z.astype(np.float64)
    return z[:, c] - z[:, c2]


def patch(model: Model, task: TaskConfig, clean_text: str, corrupt_text: str,
          source: str = "clean", target: str = "corrupt") -> PatchingResult:
    """Patch ``source``'s activations into the ``target`` run (normally clean into corrupted), every
    residual (layer, position) and every head."""
    clean, corrupt = parse_expression(clean_text, task), parse_expression(corrupt_text, task)
    if not (model.fits(clean, task) and model.fits(corrupt, task)):
        raise LabError("an input is too long for this model")
    ids_clean, ids_corrupt, position, c, c2 = _inputs(model, clean, corrupt)
    runs = {"clean": np.asarray([ids_clean]), "corrupt": np.asarray([ids_corrupt])}
    if source not in runs or target not in runs:
        raise LabError("source and target are 'clean' or 'corrupt'")
    encoder = model.kind == "encoder"
    n_layers, n_heads, d = len(model.blocks), model.config.n_heads, model.config.d_model
    time = len(ids_clean)
    points = [residual_point(s, n_layers) for s in range(n_layers + 1)] + [(i, "heads") for i in range(n_layers)]
    acts, _ = record(model, runs[source], points)
    ld_clean = float(_differences(forward_all(model, runs["clean"]), position, c, c2, encoder)[0])
    ld_corrupt = float(_differences(forward_all(model, runs["corrupt"]), position, c, c2, encoder)[0])
    span = ld_clean - ld_corrupt
    if abs(span) < MIN_DIFFERENCE:
        raise LabError("the model gives both inputs the same logit difference: there is nothing to recover")
    tokens = runs[target]

    def recovered(point: Point, keep: np.ndarray) -> np.ndarray:
        batch = np.repeat(tokens, keep.shape[0], axis=0)
        with hooked(model, {point: Knockout(keep, acts[point])}):
            ld = _differences(forward_all(model, batch), position, c, c2, encoder)
        return (ld - ld_corrupt) / span

    residual = np.empty((n_layers + 1, time))
    for s in range(n_layers + 1):
        keep = np.ones((time, time, d), dtype=model.dtype)
        keep[np.arange(time), np.arange(time)] = 0  # sequence t: position t patched
        residual[s] = recovered(residual_point(s, n_layers), keep)
    heads = np.empty((n_layers, n_heads))
    d_head = d // n_heads
    for layer in range(n_layers):
        keep = np.ones((n_heads, 1, d), dtype=model.dtype)
        by_head = keep.reshape(n_heads, n_heads, d_head)  # (sequence, head, dₕ): a view
        by_head[np.arange(n_heads), np.arange(n_heads)] = 0  # sequence h: head h patched
        heads[layer] = recovered((layer, "heads"), keep)
    labels = model.output_labels()
    return PatchingResult(str(clean), str(corrupt), clean.answer(), corrupt.answer(),
                          VOCAB.decode(ids_clean), VOCAB.decode(ids_corrupt), position,
                          (str(labels[c]), str(labels[c2])), ld_clean, ld_corrupt, residual, heads,
                          residual_labels(n_layers))
