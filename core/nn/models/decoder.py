"""Decoder (GPT-style) generator: reads ``expression =`` and writes the answer's digits, then [EOS].

Causal attention: position t sees only positions ≤ t, so one forward pass over a whole training
sequence yields next-token predictions at every position (teacher forcing). The loss counts only the
answer tokens. With right padding, pads come after every real token, so the causal mask alone keeps
them out of every real position's view.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.nn.layers.linear import Linear
from core.nn.loss import softmax_probs
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
    causal = True

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
        was_training = self.training
        self.eval()
        try:
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
                p = softmax_probs(logits[rows, lengths - 1])
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
        finally:
            self.train(was_training)
