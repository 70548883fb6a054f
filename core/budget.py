"""The memory budget: how much a run (model, optimizer, activations, dataset) may ask for, and the check.

Each option has its own bounds (``n_layers`` ≤ 48, ``d_model`` ≤ 4096, ``d_ff`` ≤ 65,536 …), but the
bounds multiply: 48 layers × d_model 4096 × d_ff 65,536 passes every one of them and is ~29 billion
parameters, hundreds of GB. So the configs also estimate the bytes they would allocate
(``core.nn.config.estimate_training_bytes``, ``core.data.dataset.DatasetConfig.estimated_bytes``) and
refuse one above ``MAX_MEMORY_BYTES`` with a one-line error that gives the number, *before* anything
is allocated — when a run is configured and when a checkpoint's config is read.

Why a fixed 4 GiB and not a fraction of this machine's memory: a config (and a checkpoint holding it)
must be valid or invalid everywhere — a model saved on a 64 GB workstation should not become
unreadable on a laptop only through this check, and tests must not depend on the host. 4 GiB is far
above anything this NumPy trainer trains in reasonable time (the shipped models need ~20 MB) and below
the memory of any machine it is meant for. The estimates are deliberately on the high side (measured
in ``tests/test_hostile_checkpoints.py`` and the issue-9 note: 1.0–1.4× the peak tracemalloc sees).
"""

from __future__ import annotations

from core.errors import ConfigError

GiB = 1 << 30
#: the most a run's estimated memory may be (see the module docstring for why it is fixed)
MAX_MEMORY_BYTES = 4 * GiB


def format_bytes(n: float) -> str:
    """``1.5 GiB``, ``12.0 MiB``: the unit a user reads the budget in."""
    for unit, size in (("GiB", GiB), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{int(n)} bytes"


def check_budget(needed: int, what: str, advice: str, limit: int = MAX_MEMORY_BYTES) -> None:
    """``ConfigError`` if ``needed`` bytes exceed ``limit``: ``this model would need about 696.3 GiB of
    memory: at most 4.0 GiB is allowed; make d_model, n_layers or d_ff smaller``."""
    if needed > limit:
        raise ConfigError(f"{what} would need about {format_bytes(needed)} of memory: at most "
                          f"{format_bytes(limit)} is allowed; {advice}")
