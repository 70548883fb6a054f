"""Process-wide settings are applied by the entry points, not by building a trainer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                          cwd=ROOT).stdout.strip()


def test_building_a_run_changes_no_process_setting() -> None:
    out = _run("import core.memory as m\nfrom core.train.run import Run\nfrom tests.conftest import tiny_config\n"
               "Run(tiny_config()).train_step()\nprint(m._done)")
    assert out == "False"


def test_the_entry_points_tune_the_process() -> None:
    out = _run("import core.memory as m\nfrom core.process import tune_for_training\nfrom core.threads import "
               "blas_threads\ns = tune_for_training(1)\nprint(m._done == s.keeps_freed_memory, blas_threads())")
    assert out == "True 1"
