"""Decoder (GPT-style) generator: reads ``expression =`` and writes the answer's digits, then [EOS].

Causal attention: position t sees only positions ≤ t, so one forward pass over a whole training
sequence yields next-token predictions at every position (teacher forcing). The loss counts only the
answer tokens. With right padding, pads come after every real token, so the causal mask alone keeps
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

    def _build_head(self) -> None:
        c = self.config
        self.head = Linear(self.params, "head", c.d_model, c.vocab_size, self.rng)

    def forward(self, tokens: np.ndarray, pad_mask: np.ndarray | None = None) -> np.ndarray:
        """tokens (B, T) → next-token logits (B, T, vocab_size)."""
        batch, time = tokens.shape
        h = self.forward_trunk(tokens, pad_mask)
        return self.head.forward(h).reshape(batch, time, -1)

    def backward(self, dlogits: np.ndarray) -> None:
        batch, time = self._bt
        dh = self.head.backward(dlogits.reshape(batch * time, -1))
        self.backward_trunk(dh)

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
        """Output t is token t of the vocabulary."""
        return list(vocab.tokens)

    def objective(self, logits: np.ndarray, batch: Batch,
                  label_smoothing: float = 0.0) -> tuple[float, np.ndarray, np.ndarray]:
        """Logits (B, T, V) against the next token, weighted by ``loss_mask`` so only the answer's digits and
        [EOS] count. A row is correct when every scored prediction is the argmax — exactly "greedy generation
        writes the right answer", because with every prefix token right, teacher forcing and generation see
        the same input."""
        b, t, v = logits.shape
        assert batch.loss_mask is not None, "decoder batches carry a loss mask"
        loss, d = cross_entropy(logits.reshape(b * t, v), batch.targets.reshape(-1),
                                batch.loss_mask.reshape(-1), label_smoothing)
        hit = logits.argmax(axis=-1) == batch.targets
        scored = batch.loss_mask > 0
        return loss, d.reshape(b, t, v), np.all(hit | ~scored, axis=1)

    def batch_answers(self, batch: Batch, logits: np.ndarray, max_new_tokens: int,
                      vocab: Vocabulary = VOCAB) -> np.ndarray:
        """Greedy generation from each row's prompt (what a user would get), read back as a number."""
        prompt_len = batch.prompt_lengths
        width = int(prompt_len.max())
        prompts = np.where(np.arange(width)[None, :] < prompt_len[:, None], batch.tokens[:, :width], vocab.pad_id)
        gen = self.generate(prompts, prompt_len, max_new_tokens, vocab.eos_id, vocab.pad_id)
        return decode_answers(gen.tokens, vocab)
