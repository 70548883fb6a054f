"""Shared fixtures: small, fast runs of the real pipeline."""

from __future__ import annotations

import pytest

from core.data.dataset import DatasetConfig
from core.data.task import TaskConfig
from core.optim.config import OptimizerConfig
from core.train.run import Run, RunConfig


def tiny_config(kind: str = "encoder", seed: int = 0, epochs: int = 10, lr: float = 3e-3, **kw: object) -> RunConfig:
    task = TaskConfig() if kind == "encoder" else TaskConfig(max_value=99, min_args=2, max_args=3)
    data = DatasetConfig(task=task, n_train=320, n_val=64, n_test=64, seed=seed)
    model = {"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 32}
    model.update(kw)
    return RunConfig.create(data, kind=kind, seed=seed, epochs=epochs,
                            optimizer=OptimizerConfig(lr=lr, batch_size=32), **model)


@pytest.fixture
def tiny_run() -> Run:
    return Run(tiny_config())


@pytest.fixture
def models_dir(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    d = tmp_path / "saved_models"
    monkeypatch.setenv("LLMLEARN_MODELS", str(d))
    return d


@pytest.fixture(autouse=True)
def isolated_user_data(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """No test writes to the real per-user data folder (lesson progress, datasets, models): it is a
    temporary folder unless a test points LLMLEARN_DATA elsewhere itself."""
    d = tmp_path / "user-data"
    monkeypatch.setenv("LLMLEARN_DATA", str(d))
    return d
