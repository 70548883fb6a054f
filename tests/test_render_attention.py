"""The attention map's text, from a known matrix: caption, token labels, percent cells, the ▶ row."""

from __future__ import annotations

import numpy as np

from workbench.render.attention import (
    EMPTY,
    AttentionData,
    attention_height,
    attention_text,
    caption,
    cell_width,
)

TOKENS = ["Max", "(", "3", ")"]


def known_data() -> AttentionData:
    # one layer, two heads over four tokens; head 0 looks at the previous token, head 1 at token 0
    h0 = np.array([[1.0, 0, 0, 0], [1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0]])
    h1 = np.array([[1.0, 0, 0, 0], [0.5, 0.5, 0, 0], [0.25, 0.25, 0.5, 0], [0.4, 0.3, 0.2, 0.1]])
    return AttentionData([np.stack([h0, h1])], TOKENS, read_row=0, note="▶ position 0: read here")


def header_index(text: str) -> int:
    """The line of the column labels (the last header line, just above the grid's rows)."""
    lines = text.splitlines()
    return next(i for i, line in enumerate(lines) if line.split() == TOKENS)


def rows_of(text: str) -> dict[str, list[str]]:
    """Grid rows keyed by their label (with its ▶ marker, if any): the 3-wide cells after it."""
    label_width = max(len(t) for t in TOKENS) + 2  # the label, right-aligned, then the marker and a space
    out = {}
    start = header_index(text) + 1
    for line in text.splitlines()[start:start + len(TOKENS)]:
        label, cells = line[:label_width], line[label_width:]
        out[label.strip()] = [cells[i:i + 3].strip() for i in range(0, len(cells), 3)]
    return out


def test_a_known_head_renders_its_labels_and_percent_cells() -> None:
    text = attention_text(known_data(), layer=0, head=1, width=80).plain
    lines = text.splitlines()
    assert lines[0] == "layer 0 (0) · head 1 (0–1)"
    legend = " · ".join(lines[1:header_index(text)])  # the legend under the caption, flowed to the width
    assert legend == ("row: the query token · column: the key it attends to · cell: its weight in % · "
                      "** = 100% · blank = under 0.5%")
    assert all(len(line) <= 80 for line in lines)
    rows = rows_of(text)
    assert rows["Max▶"] == ["**", "", "", ""]  # 100% prints as ** (two digits fit a 3-wide cell)
    assert rows["("] == ["50", "50", "", ""]
    assert rows["3"] == ["25", "25", "50", ""]
    assert rows[")"] == ["40", "30", "20", "10"]
    assert lines[-1] == "▶ position 0: read here"


def test_head_minus_one_is_the_mean_of_the_heads() -> None:
    data = known_data()
    assert np.allclose(data.matrix(0, -1), data.maps[0].mean(axis=0))
    text = attention_text(data, layer=0, head=-1).plain
    assert text.startswith("layer 0 (0) · mean of heads")
    assert rows_of(text)[")"] == ["20", "15", "60", "5"]  # (0+0.4)/2, (0+0.3)/2, (1+0.2)/2, (0+0.1)/2


def test_cells_shrink_to_fit_the_width_and_stop_printing_numbers() -> None:
    assert cell_width(TOKENS, 80) == 3
    assert cell_width(TOKENS, 5 + 2 * 4) == 2  # label 3 + 2, two columns per token
    assert cell_width(TOKENS, 10) == 1
    narrow = attention_text(known_data(), 0, 1, width=10).plain
    assert "50" not in narrow and "**" not in narrow  # 1-wide cells carry the shade only


def test_no_data_is_a_hint_and_the_height_counts_every_line() -> None:
    assert attention_text(None, 0, -1).plain == EMPTY
    assert attention_text(AttentionData(), 0, -1).plain == EMPTY
    assert attention_height(None) == 1
    data = known_data()
    lines = attention_text(data, 0, -1).plain.splitlines()
    assert attention_height(data) == len(lines) == 1 + 2 + 1 + 4 + 1  # caption, legend, header, rows, note
    assert attention_height(data, 40) == len(attention_text(data, 0, -1, 40).plain.splitlines()) > len(lines)


def test_caption_counts_from_zero_as_the_parameter_names_do() -> None:
    assert caption(1, 2, 2, 4) == "layer 1 (0–1) · head 2 (0–3)"
    assert caption(0, 3, -1, 4) == "layer 0 (0–2) · mean of heads"


def test_long_tokens_are_never_cut_to_three_characters() -> None:
    tokens = ["Second", "(", "3", ",", "7", ")", "=", "7", "[EOS]"]
    n = len(tokens)
    data = AttentionData([np.full((1, n, n), 1 / n)], tokens, read_row=6, note="▶ '='",
                         sequence="the beam search sequence: 7 [EOS]")
    wide = attention_text(data, 0, -1, width=80).plain.splitlines()
    assert wide[0] == "layer 0 (0) · mean of heads · the beam search sequence: 7 [EOS]"  # names the sequence
    header = next(line for line in wide if "Second" in line)
    assert header.split() == tokens  # whole labels, on one line
    narrow = attention_text(data, 0, -1, width=40).plain.splitlines()
    assert cell_width(tokens, 40) == 3
    start = next(i for i, line in enumerate(narrow) if line.strip() == "S")  # written top to bottom
    column = "".join(line[6 + 2 + 1] for line in narrow[start:start + 6])  # label 6, ▶, space; centre of cell 0
    assert column == "Second"
    assert attention_height(data, 40) == len(narrow) and all(len(line) <= 40 for line in narrow)
    assert "** = 100%" in " ".join(narrow[1:start])  # the legend, flowed onto the narrow width


def test_a_heads_role_from_the_lab_is_shown_with_its_map() -> None:
    from workbench.render.attention import AttentionData, attention_text
    maps = [np.full((2, 3, 3), 1 / 3)]
    data = AttentionData(maps, ["Max", "(", "7"], roles={(0, 1): "attends to the argument holding the answer"})
    shown = attention_text(data, 0, 1, 80).plain
    assert "role (Lab, on held-out data): attends to the argument holding the answer" in shown
    assert "role" not in attention_text(data, 0, 0, 80).plain  # no role known for head 0
    assert "role" not in attention_text(data, 0, -1, 80).plain  # the mean of the heads has none
