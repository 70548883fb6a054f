"""Installable like a real tool: a wheel carries the shipped models as read-only package data and runs from
any directory; the user's own files go to a per-user data directory (platformdirs)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from core.data.dataset import (
    Dataset,
    DatasetConfig,
    generate_dataset,
)
from core.data.dataset_file import dataset_path, default_datasets_dir, load_dataset, save_dataset
from core.data.task import TaskConfig

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_NAMES = ("encoder-digits", "decoder-0-99", "nested-digits", "nested-0-99")
SHIPPED_FILES = {f"saved_models/{name}/{file}" for name in SHIPPED_NAMES
                 for file in ("config.json", "history.jsonl", "weights.safetensors")}


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A per-user data directory of this test's own, as platformdirs would give it."""
    import platformdirs

    d = tmp_path / "user-data"
    monkeypatch.delenv("LLMLEARN_DATA", raising=False)
    monkeypatch.setattr(platformdirs, "user_data_dir", lambda *args, **kwargs: str(d))
    return d


def _small_dataset() -> Dataset:
    return generate_dataset(DatasetConfig(TaskConfig(), n_train=20, n_val=5, n_test=5, seed=1))


def test_relative_dataset_paths_go_to_the_user_datasets_folder(data_dir: Path) -> None:
    assert default_datasets_dir() == data_dir / "datasets"
    ds = _small_dataset()
    save_dataset(ds, "tasks/max-task.json")  # the folder is created on a fresh machine
    assert (data_dir / "datasets" / "tasks" / "max-task.json").is_file()
    assert load_dataset("tasks/max-task.json").train == ds.train


def test_absolute_and_home_dataset_paths_are_kept(data_dir: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    assert dataset_path(tmp_path / "d.json") == tmp_path / "d.json"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert dataset_path("~/d.json") == tmp_path / "home" / "d.json"
    monkeypatch.setenv("LLMLEARN_DATA", str(tmp_path / "data"))
    assert dataset_path("d.json") == tmp_path / "data" / "datasets" / "d.json"


def _build_wheel(tmp_path: Path) -> Path:
    """Build the wheel from a copy of the sources (no network, no build isolation, nothing written to
    the working tree)."""
    try:
        import setuptools
    except ImportError:
        pytest.skip("setuptools is not installed (it is a dev dependency)")
    if tuple(int(x) for x in setuptools.__version__.split(".")[:2]) < (70, 1) and not importlib.util.find_spec("wheel"):
        pytest.skip(f"setuptools {setuptools.__version__} cannot build wheels without the 'wheel' package")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "MANIFEST.in", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for name in ("core", "workbench", "saved_models"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "wheel"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                           "-q", str(src), "-w", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    (wheel,) = out.glob("*.whl")
    return wheel


def test_a_wheel_carries_the_shipped_models_and_runs_from_any_directory(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        metadata = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        entry_points = z.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
        site = tmp_path / "site"
        z.extractall(site)
    assert {n for n in names if n.startswith("saved_models/")} == SHIPPED_FILES  # these and nothing else
    assert {"core/paths.py", "core/train/checkpoint/__init__.py", "workbench/cli.py",
            "workbench/styles/app.tcss"} <= names
    assert "Requires-Dist: platformdirs" in metadata and "workbench = workbench.cli:main" in entry_points

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("LLMLEARN_MODELS", "LLMLEARN_DATA", "PYTHONPATH")}
    env.update(PYTHONPATH=str(site), HOME=str(tmp_path / "home"), LLMLEARN_DATA=str(tmp_path / "user-data"))

    def workbench(*args: str) -> str:
        proc = subprocess.run([sys.executable, "-m", "workbench", *args], cwd=elsewhere, env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    where = subprocess.run([sys.executable, "-c", "import core, workbench; print(core.__file__, workbench.__file__)"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60).stdout.split()
    assert all(Path(p).is_relative_to(site) for p in where), where  # the installed copy, not the checkout
    models = json.loads(workbench("models", "--json"))
    assert [(m["name"], m["shipped"], m["error"]) for m in models] == [("decoder-0-99", True, None),
                                                                       ("encoder-digits", True, None),
                                                                       ("nested-0-99", True, None),
                                                                       ("nested-digits", True, None)]
    assert all(Path(m["path"]).is_relative_to(site / "saved_models") for m in models)
    assert workbench("predict", "encoder-digits", "Max(3, 7, 2)").startswith("Max(3, 7, 2) → 7 ✓")
    workbench("train", "--n-train", "64", "--n-val", "16", "--n-test", "16", "--d-model", "16", "--layers", "1",
              "--heads", "2", "--d-ff", "32", "--epochs", "1", "--out", "first-model")
    assert (tmp_path / "user-data" / "models" / "first-model" / "config.json").is_file()
    assert "Max(3, 7, 2) →" in workbench("predict", "first-model", "Max(3, 7, 2)")
    assert workbench("--version").startswith("workbench 0.")
    shipped = sorted(p.name for p in (site / "saved_models").iterdir())
    assert shipped == ["decoder-0-99", "encoder-digits", "nested-0-99", "nested-digits"]
    assert not list(elsewhere.iterdir())  # nothing written to the working directory
