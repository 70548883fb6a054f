"""Text renderings of a dataset's coverage for the Dataset pane: histograms of what the generation strategy
balanced (answer values, answer positions, two-digit numbers, ties, nesting depth)."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from core.data.features import NO_POSITION

BAR_WIDTH = 18


def bar_chart(counts: dict[Any, int], width: int = BAR_WIDTH, label_width: int = 7) -> Text:
    """A text histogram: one line per key with a proportional bar, the count and the share."""
    total = sum(counts.values()) or 1
    peak = max(counts.values(), default=0) or 1
    text = Text()
    blocks = " ▏▎▍▌▋▊▉█"
    for i, (key, n) in enumerate(counts.items()):
        eighths = round(n / peak * width * 8)
        bar = "█" * (eighths // 8) + (blocks[eighths % 8] if eighths % 8 else "")
        if i:
            text.append("\n")
        text.append(f"{key!s:>{label_width}} ", style="bold")
        text.append(f"{bar:<{width}}", style="cyan")
        text.append(f" {n:>9,} {n / total:6.1%}", style="dim")
    return text


def answer_buckets(by_answer: dict[int, int], max_value: int) -> dict[str, int]:
    """Answers 0–9 one bar each; 0–99 in bars of ten (``0–9``, ``10–19`` …), which is what shows
    whether small answers are there at all."""
    if max_value < 10:
        return {str(k): n for k, n in by_answer.items()}
    out: dict[str, int] = {}
    for k, n in by_answer.items():
        label = f"{k // 10 * 10}–{k // 10 * 10 + 9}"
        out[label] = out.get(label, 0) + n
    return out


def coverage_sections(stats: dict[str, Any], max_value: int) -> list[tuple[str, dict[Any, int]]]:
    """The coverage histograms under the samples: what the strategy balanced (see ``core.data.stratified``).
    A task whose answers are all lists (Sort) has no answer values or positions: those two are left out."""
    sections: list[tuple[str, dict[Any, int]]] = []
    if sum(stats["by_answer"].values()):
        sections.append(("answer value", answer_buckets(stats["by_answer"], max_value)))
    if any(n for k, n in stats["by_answer_position"].items() if k != NO_POSITION):
        sections.append(("answer position (0 = first argument)", stats["by_answer_position"]))
    if "by_two_digit_numbers" in stats:
        sections.append(("two-digit numbers per expression", stats["by_two_digit_numbers"]))
    sections.append(("ties (the answer's value twice; Sort: a number twice)", stats["by_tie"]))
    if len(stats["by_depth"]) > 1:
        sections.append(("nesting depth", stats["by_depth"]))
    return sections
