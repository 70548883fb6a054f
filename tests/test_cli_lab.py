"""``workbench ablate | patch | attribute | circuits``: the documented JSON keys, text at 80 columns, and
one-line errors with exit status 2."""

from __future__ import annotations

import io
import json

import pytest

from workbench.cli import main


def _run(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(args, stdin=io.StringIO(""), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _json(args: list[str]) -> dict:
    code, out, err = _run([*args, "--json"])
    assert code == 0 and err == "", err
    return json.loads(out)


def test_ablate_baseline_is_evals_accuracy_and_the_ablation_lowers_it() -> None:
    evaluated = _json(["eval", "encoder-digits", "--split", "val"])
    data = _json(["ablate", "encoder-digits", "--split", "val", "--heads", "0.0,0.1,0.2,0.3"])
    assert data["baseline_accuracy"] == evaluated["accuracy"]
    assert data["accuracy"] < data["baseline_accuracy"]
    assert set(data["by_operation"]) == {"First", "Second", "Last", "Max", "Min"}
    assert data["ablation"] == "heads 0.0, 0.1, 0.2, 0.3 (zero)" and data["split"] == "val"
    nothing = _json(["ablate", "encoder-digits"])
    assert nothing["accuracy"] == nothing["baseline_accuracy"]


def test_ablate_every_head_one_by_one() -> None:
    data = _json(["ablate", "encoder-digits", "--all-heads-one-by-one", "--mean"])
    assert [(h["layer"], h["head"]) for h in data["heads"]] == [(i, j) for i in range(2) for j in range(4)]
    for h in data["heads"]:
        assert {"layer", "head", "accuracy", "by_operation"} <= set(h)
        assert set(h["by_operation"]) == {"First", "Second", "Last", "Max", "Min"}
    code, out, _ = _run(["ablate", "encoder-digits", "--all-heads-one-by-one"])
    assert code == 0 and "depend most on head 0.0" in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_patch_json_shapes_and_automatic_corruption() -> None:
    data = _json(["patch", "encoder-digits", "Max(3, 7, 2)"])
    assert data["corrupt"] == "Max(3, 0, 2)" and data["corruption"] == "change-answer"
    assert len(data["residual"]) == 3 and all(len(row) == 8 for row in data["residual"])  # (L+1) × T
    assert len(data["heads"]) == 2 and all(len(row) == 4 for row in data["heads"])  # L × H
    assert data["residual"][-1][0] == pytest.approx(1.0)  # the last residual at the read position: all of it
    typed = _json(["patch", "encoder-digits", "Min(4, 1, 8)", "Min(4, 5, 8)"])
    assert typed["corruption"] == "typed" and typed["clean_answer"] == 1 and typed["corrupt_answer"] == 4
    code, out, _ = _run(["patch", "decoder-0-99", "Max(31, 72, 25)", "--corruption", "change-digit"])
    assert code == 0 and "recovers" in out and max(len(line) for line in out.splitlines()) <= 80


def test_attribute_components_add_up() -> None:
    data = _json(["attribute", "encoder-digits", "Max(3, 7, 2)"])
    names = [c["name"] for c in data["components"]]
    assert "head 0.0" in names and "ffn 1" in names and "token embedding" in names
    assert sum(c["logit"] for c in data["components"]) == pytest.approx(data["total"])
    assert data["total"] == pytest.approx(data["logit"], abs=1e-4)  # float32 model; float64 is tested in core
    code, out, _ = _run(["attribute", "encoder-digits", "Max(3, 7, 2)"])
    assert code == 0 and "frozen" in out and "total" in out


def test_circuits_text_and_json() -> None:
    code, out, _ = _run(["circuits", "encoder-digits"])
    assert code == 0 and "head 0.0: attends to" in out and "Max looks for large digits" in out
    assert max(len(line) for line in out.splitlines()) <= 80
    data = _json(["circuits", "encoder-digits"])
    head = data["heads"][0]
    assert len(head["qk_tokens"]) == len(data["tokens"]) and len(head["ov"][0]) == len(data["outputs"]) == 10
    assert head["copy_score"] == 1.0 and head["caption"].startswith("attends to")


@pytest.mark.parametrize(("args", "message"), [
    (["ablate", "encoder-digits", "--heads", "2.1"], "no layer 2"),
    (["ablate", "encoder-digits", "--heads", "0.1", "--all-heads-one-by-one"], "leave out --heads"),
    (["patch", "encoder-digits", "Max(3, 7, 2)", "Max(7, 3, 2)"], "same answer"),
    (["patch", "decoder-0-99", "Max(3, 7, 2)", "Max(3, 17, 2)"], "same length"),
    (["patch", "encoder-digits", "Max(3, 7, 2)", "Max(3, 0, 2)", "--corruption", "swap-ends"], "not both"),
    (["attribute", "encoder-digits", "Max(3, 7"], "column"),
    (["circuits", "no-such-model"], "no-such-model"),
])
def test_bad_input_is_one_line_and_status_2(args: list[str], message: str) -> None:
    code, out, err = _run(args)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
