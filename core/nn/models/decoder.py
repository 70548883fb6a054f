"""Decoder (GPT-style) generator: reads ``expression =`` and writes the answer's digits, then [EOS].

Causal attention: position t sees only positions ≤ t, so one forward pass over a whole training
sequence yields next-token predictions at every position (teacher forcing). The loss counts only the
answer tokens, so training computes the last layer only where it is scored (``forward_batch``,
``scored_rows``). With right padding, pads come after every real token, so the causal mask alone keeps
them out of every real position's view.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from core.data.answer_format import decode_answers
from core.data.batching import Batch
from core.data.expression import Expression
from core.data.task import TaskConfig
from core.data.vocab import VOCAB, Vocabulary
from core.nn.layers.linear import Linear
from core.nn.layers.softmax import softmax
from core.nn.loss import cross_entropy
from core.nn.models.backbone import TransformerBackbone


@dataclass
class Generation:
    """Greedy generation for a batch: ``tokens`` (B, max_new) padded with PAD after [EOS];
    ``lengths`` (B,) how many of them were generated (a generated PAD is a token like any other);
    ``probs`` (B, max_new, V) the next-token distribution at each step."""

    tokens: np.ndarray
    probs: np.ndarray
    lengths: np.ndarray


class TransformerDecoder(TransformerBackbone):
    causal: ClassVar[bool] = True
    kind: ClassVar[Literal["encoder", "decoder"]] = "decoder"
    _rows: np.ndarray | None = None  # the ``rows`` of the last forward

    def _build_head(self) -> None:
        c = self.config
        self.head = Linear(self.params, "head", c.d_model, c.vocab_size, self.rng)

    def forward(self, tokens: np.ndarray, pad_mask: np.ndarray | None = None,
                rows: np.ndarray | None = None) -> np.ndarray:
        """tokens (B, T) → next-token logits (B, T, vocab_size); with ``rows`` (ascending flat indices
        b·T + t), the logits at those positions only: (N, vocab_size).

        Only the last block, the final LayerNorm and the head are cut down to the N rows (its keys and
        values, and every earlier block, still see all positions), so the N logits — and the gradients
        from them — are the full forward's, at about ¾ of its cost when N ≈ B·T/7 (training on answers).
        """
        batch, time = tokens.shape
        self._rows = rows
        h = self.forward_trunk(tokens, pad_mask, rows)
        logits = self.head.forward(h)
        return logits if rows is not None else logits.reshape(batch, time, -1)

    def forward_batch(self, batch: Batch) -> np.ndarray:
        """Training mode: the logits (N, V) of the scored positions (``scored_rows``), all a training step
        needs. Evaluation mode: every position's (B, T, V), so that attention maps are complete."""
        if not self.training:
            return self.forward(batch.tokens, batch.pad_mask)
        return self.forward(batch.tokens, batch.pad_mask, self.scored_rows(batch))

    @staticmethod
    def scored_rows(batch: Batch) -> np.ndarray:
        """Flat indices b·T + t (ascending) of the positions the loss scores: loss_mask > 0, i.e. the
        positions that predict an answer digit or [EOS] — 2 or 3 per row on a 0–99 task."""
        assert batch.loss_mask is not None, "decoder batches carry a loss mask"
        return np.flatnonzero(batch.loss_mask.reshape(-1) > 0)

    def backward(self, dlogits: np.ndarray) -> None:
        """Fill every parameter's gradient from dL/dlogits: (B, T, V), or (N, V) after a ``rows`` forward."""
        if self._rows is None:
            batch, time = self._bt
            dlogits = dlogits.reshape(batch * time, -1)
        self.backward_trunk(self.head.backward(dlogits))

    def generate(
        self, prompts: np.ndarray, prompt_lengths: np.ndarray, max_new_tokens: int, eos_id: int, pad_id: int = 0
    ) -> Generation:
        """Greedy decoding of a batch of right-padded prompts (B, P), all rows in lock-step.

        Each row writes its next token at its own position; the causal mask means the pads beyond a
        row's current position never influence it, so rows of different lengths share every forward.
        """
        with self.eval_mode():
            batch = prompts.shape[0]
            rows = np.arange(batch)
            lengths = np.asarray(prompt_lengths, dtype=np.int64).copy()
            buf = np.full((batch, int(lengths.max()) + max_new_tokens), pad_id, dtype=np.int64)
            buf[:, : prompts.shape[1]] = prompts
            out = np.full((batch, max_new_tokens), pad_id, dtype=np.int64)
            probs = np.zeros((batch, max_new_tokens, self.config.vocab_size), dtype=self.dtype)
            done = np.zeros(batch, dtype=bool)
            n_gen = np.zeros(batch, dtype=np.int64)
            for step in range(max_new_tokens):
                logits = self.forward(buf[:, : int(lengths.max())])
                p = softmax(logits[rows, lengths - 1])
                nxt = p.argmax(axis=-1)
                nxt[done] = pad_id
                probs[~done, step] = p[~done]
                out[:, step] = nxt
                live = ~done
                buf[rows[live], lengths[live]] = nxt[live]
                lengths[live] += 1
                n_gen[live] += 1
                done |= nxt == eos_id
                if done.all():
                    break
            return Generation(out, probs, n_gen)

    # -- the decoder's answers to the kind-specific questions (see TransformerBackbone) -----------
    def prompt_ids(self, expression: Expression, vocab: Vocabulary = VOCAB) -> list[int]:
        """The expression's tokens followed by "=", after which the answer is written."""
        return [*vocab.encode(expression.tokens()), vocab.sep_id]

    def readout_position(self, prompt_length: int) -> int:
        """The "=" (the prompt's last token), where the first answer token is predicted."""
        return prompt_length - 1

    def fits(self, expression: Expression, task: TaskConfig) -> bool:
        """The prompt plus the longest answer's digits (its [EOS] is written but never read back)."""
        return len(expression.tokens()) + 1 + task.max_answer_tokens <= self.config.max_len

    def output_labels(self, vocab: Vocabulary = VOCAB) -> list[int | str]:
        """Output t is token t of the vocabulary (its first ``vocab_size`` tokens: an older model's is a prefix)."""
        return list(vocab.tokens[: self.config.vocab_size])

    def objective(self, logits: np.ndarray, batch: Batch,
                  label_smoothing: float = 0.0) -> tuple[float, np.ndarray, np.ndarray]:
        """Cross-entropy against the next token, weighted by ``loss_mask`` so only the answer's digits and
        [EOS] count. ``logits`` are every position's (B, T, V) — then dL/dlogits is (B, T, V), zero at
        unscored positions — or the scored positions' (N, V) in ``scored_rows`` order, as ``forward_batch``
        gives in training mode — then dL/dlogits is (N, V). Same loss either way (the unscored rows have
        weight 0); which rows are correct: ``scored_correct``."""
        assert batch.loss_mask is not None, "decoder batches carry a loss mask"
        b, t = batch.targets.shape
        targets, weights = batch.targets.reshape(-1), batch.loss_mask.reshape(-1)
        if logits.ndim == 3:
            v = logits.shape[-1]
            loss, d = cross_entropy(logits.reshape(b * t, v), targets, weights, label_smoothing)
            return loss, d.reshape(b, t, v), self.scored_correct(logits, batch)
        rows = self.scored_rows(batch)
        if logits.shape[0] != rows.size:
            raise ValueError(f"got logits for {logits.shape[0]} positions; this batch scores {rows.size} "
                             "(pass every position's, or those of scored_rows)")
        loss, d = cross_entropy(logits, targets[rows], weights[rows], label_smoothing)
        return loss, d, self.scored_correct(logits, batch)

    def scored_correct(self, logits: np.ndarray, batch: Batch) -> np.ndarray:
        """Which rows (B,) have every scored prediction right (the argmax is the target), from logits of every
        position (B, T, V) or of the scored ones (N, V). Exactly "greedy generation writes the right answer":
        with every prefix token right, teacher forcing and generation see the same input."""
        assert batch.loss_mask is not None, "decoder batches carry a loss mask"
        b, t = batch.targets.shape
        if logits.ndim == 3:
            hit = logits.argmax(axis=-1) == batch.targets
            return np.all(hit | ~(batch.loss_mask > 0), axis=1)
        rows = self.scored_rows(batch)
        wrong = logits.argmax(axis=-1) != batch.targets.reshape(-1)[rows]
        return np.bincount(rows[wrong] // t, minlength=b) == 0

    def batch_answers(self, batch: Batch, logits: np.ndarray, max_new_tokens: int,
                      vocab: Vocabulary = VOCAB) -> np.ndarray:
        """Greedy generation from each row's prompt (what a user would get), read back as a number (−1
        where it spells none, and for every list answer: see ``batch_generations``)."""
        return decode_answers(self.batch_generations(batch, logits, max_new_tokens, vocab), vocab)

    def batch_generations(self, batch: Batch, logits: np.ndarray, max_new_tokens: int,
                          vocab: Vocabulary = VOCAB) -> np.ndarray:
        """The tokens (B, max_new_tokens) greedy generation writes after each row's prompt, PAD after [EOS].

        ``logits`` are the batch's teacher-forced ones (``forward_batch``). A row whose every scored
        prediction is right (``scored_correct``) and whose answer and [EOS] fit in ``max_new_tokens`` is
        written by greedy generation exactly as its target: its tokens are the target's, with no generation
        needed. Only the other rows are generated — after a few hundred training steps, few of them. (The
        two forwards see different amounts of padding, so their logits agree to round-off rather than bit
        for bit: a near-exact tie of the two most likely tokens could go either way in either.)"""
        assert batch.loss_mask is not None, "decoder batches carry a loss mask"
        n_scored = (batch.loss_mask > 0).sum(axis=1)
        steps = np.arange(max_new_tokens)[None, :]
        cols = np.minimum(batch.prompt_lengths[:, None] - 1 + steps, batch.targets.shape[1] - 1)
        out = np.where(steps < n_scored[:, None], np.take_along_axis(batch.targets, cols, axis=1), vocab.pad_id)
        redo = np.flatnonzero(~(self.scored_correct(logits, batch) & (n_scored <= max_new_tokens)))
        if redo.size:
            prompt_len = batch.prompt_lengths[redo]
            width = int(prompt_len.max())
            cols = np.arange(width)[None, :]
            prompts = np.where(cols < prompt_len[:, None], batch.tokens[redo, :width], vocab.pad_id)
            out[redo] = self.generate(prompts, prompt_len, max_new_tokens, vocab.eos_id, vocab.pad_id).tokens
        return out
