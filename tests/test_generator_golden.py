"""The dataset generator is frozen: these configs must keep generating exactly the examples they did.

A shipped model (and every checkpoint a user saved) regenerates its dataset from its config; if the
generator drew differently, its test split could hold expressions it was trained on and every reported
accuracy would silently change meaning. The shipped models' own tests read only their held-out splits (a
1.28M-example training split takes ~30 s to regenerate), so this is where a change of the generator is
caught: one digest per kind of task — 0–9 and 0–99, flat and nested, stratified and uniform, both split
layouts. A deliberate change of the generator needs a new ``layout`` (``core.data.dataset.LAYOUTS``), never
new digests for an old one.
"""

from __future__ import annotations

import hashlib

import pytest

from core.data.dataset import DatasetConfig, generate_dataset
from core.data.task import TaskConfig

CONFIGS: dict[str, DatasetConfig] = {
    "encoder-digits": DatasetConfig(TaskConfig(max_value=9, min_args=3, max_args=3), 3000, 300, 300, 0,
                                    "stratified", 1),
    "decoder-0-99": DatasetConfig(TaskConfig(max_value=99, min_args=2, max_args=5), 3000, 300, 300, 0,
                                  "stratified", 1),
    "nested-digits": DatasetConfig(TaskConfig(max_value=9, min_args=2, max_args=3, max_depth=2), 3000, 300, 300,
                                   0, "stratified", 1),
    "nested-0-99": DatasetConfig(TaskConfig(max_value=99, min_args=2, max_args=3, max_depth=2), 3000, 300, 300,
                                 0, "stratified", 1),
    "uniform": DatasetConfig(TaskConfig(max_value=99, min_args=2, max_args=4), 3000, 300, 300, 5, "uniform", 1),
    "layout-2": DatasetConfig(TaskConfig(max_value=99, min_args=2, max_args=4, max_depth=2), 3000, 300, 300, 7),
}

DIGESTS: dict[str, str] = {
    "encoder-digits": "5c71ddd67973e8dc",
    "decoder-0-99": "f6e4aabcf8bcf7f7",
    "nested-digits": "2ddeb02387005e25",
    "nested-0-99": "d1cdcb0370dd42c2",
    "uniform": "6d02bf3c09989308",
    "layout-2": "807b6ece07d8cbe7",
}


def digest(config: DatasetConfig) -> str:
    data = generate_dataset(config)
    h = hashlib.sha256()
    for name in ("train", "val", "test"):
        for e in data.split(name):
            h.update(f"{name}:{e.text}={e.answer};".encode())
    return h.hexdigest()[:16]


@pytest.mark.parametrize("name", CONFIGS)
def test_the_generator_draws_what_it_always_drew(name: str) -> None:
    assert digest(CONFIGS[name]) == DIGESTS[name]
