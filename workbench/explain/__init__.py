"""What am I looking at? A short explanation of every pane and view, as Markdown files shipped here.

``?`` (or "Explain this view" in the command palette) opens the one for where the focus is
(``workbench.screens.explain``). A topic is ``KEY.md`` in this folder: its first line is ``# Title``,
the rest is Markdown of 10–25 lines saying how to read the view. ``topic_for`` picks the topic from
the ids of the focused widget and its ancestors — the innermost view that has one wins — falling back
to the visible pane (when the focus is on the pane tabs, or nowhere). No Textual here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

EXPLAIN_DIR = Path(__file__).resolve().parent

#: every topic, in the order ``n`` / ``p`` page through them in the dialog
TOPICS: tuple[str, ...] = ("learn", "dataset", "training", "charts", "inference", "attention", "generation",
                           "logit-lens", "inspector", "embeddings", "gradcheck", "evaluation", "lab", "runs")
#: the topic of each pane (by its TabPane id)
PANE_TOPICS: dict[str, str] = {"learn": "learn", "dataset": "dataset", "training": "training",
                               "inference": "inference", "inspector": "inspector", "lab": "lab", "runs": "runs"}
#: widget ids → topic: the panes themselves and the views inside them that have a topic of their own
ID_TOPICS: dict[str, str] = {
    "learn-pane": "learn",
    "dataset-pane": "dataset",
    "training-pane": "training",
    "chart-panel": "charts",
    "inference-pane": "inference",
    "inf-attention-section": "attention",
    "inf-generation-section": "generation",
    "inf-lens-section": "logit-lens",
    "inspector-pane": "inspector",
    "insp-embed-section": "embeddings",
    "insp-gradcheck-section": "gradcheck",
    "insp-eval-section": "evaluation",
    "lab-pane": "lab",
    "runs-pane": "runs",
}


@dataclass(frozen=True)
class Explanation:
    key: str
    title: str
    body: str  # Markdown, without the title line


@cache
def explanation(key: str) -> Explanation:
    """The topic ``key`` (a ``TOPICS`` entry), read from its file once."""
    if key not in TOPICS:
        raise KeyError(f"no explanation {key!r}")
    text = (EXPLAIN_DIR / f"{key}.md").read_text(encoding="utf-8")
    first, _, body = text.partition("\n")
    return Explanation(key, first.removeprefix("# ").strip(), body.strip() + "\n")


def topic_for(ids: Iterable[str | None], pane: str | None) -> str:
    """The topic for a focused widget whose ids, innermost first, are ``ids`` (the widget's own, then
    its ancestors'), in the visible ``pane``: the first id with a topic, else the pane's."""
    for widget_id in ids:
        if widget_id in ID_TOPICS:
            return ID_TOPICS[widget_id]
    return PANE_TOPICS.get(pane or "", "learn")
