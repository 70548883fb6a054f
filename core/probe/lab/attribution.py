"""Direct logit attribution: how much each head, each feed-forward block and the embeddings push the
answer's logit, for one input.

In a pre-LN transformer the residual stream at the answer position is a sum of what each part wrote:

    h_L = e_token + e_position + Σ_l ( Σ_h o_{l,h} W_o^{(h)} + b_o^{(l)} + FFN_l )

and the head reads it through the final LayerNorm, logit_c = (γ ⊙ (h_L − mean h_L) / σ + β) · W_c + b_c.
Freezing σ at its value on this input (the usual method: the normalisation is then linear), each part x_k
gets the share

    logit_c(x_k) = (γ ⊙ (x_k − mean x_k) / σ) · W_c,    and β · W_c + b_c is the constant "biases" share,

and the shares add up to the logit exactly (tests/test_lab.py: ≤ 1e-6 in float64). With σ frozen this is a
first-order reading: it says which parts write toward the answer directly, not what earlier parts did
through later ones. A post-LN model normalises after every block, so its parts do not add up and it gets
a clear error instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.data.answer_format import answer_tokens
from core.data.expression import parse_expression
from core.data.task import TaskConfig
from core.data.vocab import VOCAB
from core.errors import LabError
from core.nn.models.factory import Model
from core.probe.lab.activations import record

FROZEN_NOTE = ("final LayerNorm scale frozen at this input's value (the usual method): the shares add up to "
               "the logit exactly")


@dataclass
class Attribution:
    text: str
    target: str  # the output attributed: the answer class, or the decoder's first answer token
    position: int
    components: list[tuple[str, float]] = field(default_factory=list)  # (name, share of the logit)
    total: float = 0.0  # Σ shares
    logit: float = 0.0  # the model's own logit for the target
    note: str = FROZEN_NOTE

    def to_dict(self) -> dict[str, Any]:
        return {"expression": self.text, "target": self.target, "position": self.position,
                "components": [{"name": n, "logit": v} for n, v in self.components], "total": self.total,
                "logit": self.logit, "note": self.note}


def attribute(model: Model, task: TaskConfig, text: str) -> Attribution:
    """Each part's share of the logit of the right answer (the decoder: of its first token) for ``text``."""
    if model.ln_f is None:
        raise LabError("direct logit attribution needs a pre-LN model: a post-LN model normalises the residual "
                       "stream after every block, so the parts' contributions do not add up")
    expr = parse_expression(text, task)
    if not model.fits(expr, task):
        raise LabError("the expression is too long for this model")
    ids = model.prompt_ids(expr)
    position = model.readout_position(len(ids))
    if model.kind == "encoder":
        target, label = expr.evaluate(), str(expr.evaluate())
    else:
        first = answer_tokens(expr.answer())[0]
        target = VOCAB.encode([first])[0]
        label = f"token {first!r} (the answer's first)"
    n_layers, n_heads, d = len(model.blocks), model.config.n_heads, model.config.d_model
    points = [(0, "resid_pre"), (n_layers - 1, "resid_post")]
    points += [(i, p) for i in range(n_layers) for p in ("heads", "ffn_out")]
    tokens = np.asarray([ids])
    acts, logits = record(model, tokens, points)
    z = logits[0] if model.kind == "encoder" else logits[0, position]
    at = {p: a[0, position].astype(np.float64) for p, a in acts.items()}
    token_part = model.embed.table.value[ids[position]].astype(np.float64)
    parts: list[tuple[str, np.ndarray]] = [("token embedding", token_part),
                                           ("position embedding", at[(0, "resid_pre")] - token_part)]
    d_head = d // n_heads
    for i, block in enumerate(model.blocks):
        w_o = block.attn.out.w.value.astype(np.float64)
        heads = at[(i, "heads")].reshape(n_heads, d_head)
        per_head = np.einsum("hk,hkd->hd", heads, w_o.reshape(n_heads, d_head, d))
        parts += [(f"head {i}.{h}", per_head[h]) for h in range(n_heads)]
        assert block.attn.out.b is not None
        parts.append((f"attention bias {i}", block.attn.out.b.value.astype(np.float64)))
        parts.append((f"ffn {i}", at[(i, "ffn_out")]))
    h_final = at[(n_layers - 1, "resid_post")]
    ln = model.ln_f
    rstd = 1.0 / np.sqrt(np.var(h_final) + ln.eps)
    gamma, beta = ln.gamma.value.astype(np.float64), ln.beta.value.astype(np.float64)
    w = model.head.w.value.astype(np.float64)[:, target]
    assert model.head.b is not None
    b = float(model.head.b.value[target])
    components = [(name, float((gamma * (x - x.mean()) * rstd) @ w)) for name, x in parts]
    components.append(("biases (final LayerNorm β, head)", float(beta @ w + b)))
    return Attribution(str(expr), label, position, components, float(sum(v for _, v in components)),
                       float(z[target]))
