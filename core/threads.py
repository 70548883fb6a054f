"""How many threads NumPy's BLAS (OpenBLAS) may use.

Measured on this 2-core machine kind: with the machine otherwise idle, 2 BLAS threads make a batch-256
step ~30% faster than 1; but as soon as another busy thread or process shares the cores (a second
training run, a test suite, a UI redrawing charts), OpenBLAS's spinning worker threads collapse — steps
became 5–10× slower. One thread degrades gracefully. Callers pick: the benchmark reports both, and an
interactive app that draws while it trains should use 1.
"""

from __future__ import annotations

from threadpoolctl import threadpool_info, threadpool_limits


def blas_threads() -> int:
    """The current BLAS thread count (the largest over loaded BLAS libraries; 1 if none is found)."""
    counts = [int(i.get("num_threads", 1)) for i in threadpool_info() if i.get("user_api") == "blas"]
    return max(counts, default=1)


def set_blas_threads(n: int) -> None:
    """Limit BLAS to ``n`` threads for the whole process (OpenBLAS's setting is global)."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"thread count must be a positive integer, got {n!r}")
    threadpool_limits(limits=n, user_api="blas")
