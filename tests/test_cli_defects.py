"""The command line as a newcomer met it (issue 12): ``--no-mouse`` without ``app``, exit status 2 for
bad input as the README says, and options between the model's name and the expressions."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from workbench.cli import EXIT_USAGE, main

README = Path(__file__).resolve().parents[1] / "README.md"
SHIPPED = "encoder-digits"  # read-only, always there: no training needed


def _run(args: list[str], stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(args, stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_the_top_level_help_offers_no_mouse_and_it_opens_the_app(monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    import workbench.app

    calls: list[bool] = []
    monkeypatch.setattr(workbench.app, "run_app", lambda mouse=True: calls.append(mouse) or 0)
    assert main(["--no-mouse"]) == 0 and calls == [False]
    assert main(["--help"]) == 0
    assert "--no-mouse" in capsys.readouterr().out


def test_an_unparsable_expression_exits_2_as_the_readme_says(models_dir: Path) -> None:
    assert "exits with status 2" in README.read_text(encoding="utf-8")
    code, out, err = _run(["predict", SHIPPED, "Max(3,"])
    assert code == EXIT_USAGE == 2 and out == "" and err.startswith("error: 'Max(3,'") and "column" in err


def test_predict_takes_json_between_the_name_and_the_expressions_or_stdin(models_dir: Path) -> None:
    code, out, _ = _run(["predict", SHIPPED, "--json", "Max(3, 7, 2)"])
    assert code == 0 and json.loads(out)["answer"] == 7
    code, out, _ = _run(["predict", SHIPPED, "--json", "-"], stdin="Min(4, 1, 9)\n")
    assert code == 0 and json.loads(out)["answer"] == 1
    code, out, _ = _run(["predict", SHIPPED, "--json", "--top", "1", "Max(3,"])
    assert code == 2 and json.loads(out)["error"]


def test_a_validation_condition_without_a_validation_split_is_refused(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import io

    from workbench.cli import main
    monkeypatch.setenv("LLMLEARN_DATA", str(tmp_path))
    err = io.StringIO()
    code = main(["train", "--n-train", "50", "--n-val", "0", "--n-test", "10", "--until-val-acc", "0.9",
                 "--out", "x"], stdout=io.StringIO(), stderr=err)
    assert code == 2 and "--n-val must be at least 1" in err.getvalue()
