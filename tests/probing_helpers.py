"""Shared pieces of the probing tests: small trained-ish models and one BLAS thread.

The probes run many tiny forwards; on the shared 2-core machine OpenBLAS's second thread makes those
~10× slower when anything else is busy (see ``core.threads``), so these tests pin BLAS to one thread
for their duration (restored afterwards).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from threadpoolctl import threadpool_limits

from core.train.run import Run
from tests.conftest import tiny_config


@pytest.fixture(autouse=True)
def one_blas_thread() -> Iterator[None]:
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def trained_run(kind: str, steps: int = 80, seed: int = 0, **kw: object) -> Run:
    """A tiny run of ``kind`` trained for ``steps`` steps (well short of convergence: "trained-ish")."""
    run = Run(tiny_config(kind, seed=seed, **kw))
    for _ in range(steps):
        run.train_step()
    return run
