"""Process-wide settings for a training process, applied once by the entry points (the CLI, the app,
the benchmark) — never as a side effect of building a model or a trainer, so a library user keeps
control of their own process.

* BLAS threads (``core.threads``): 1 by default, robust when other work shares the cores.
* The allocator keeps freed memory (``core.memory``): no page faults for each step's temporaries.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.memory import keep_freed_memory
from core.threads import set_blas_threads


@dataclass(frozen=True)
class ProcessSettings:
    blas_threads: int
    keeps_freed_memory: bool


def tune_for_training(threads: int = 1) -> ProcessSettings:
    """Set NumPy's BLAS to ``threads`` threads and keep freed memory in the process; says what applied."""
    set_blas_threads(threads)
    return ProcessSettings(threads, keep_freed_memory())
