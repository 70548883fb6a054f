"""A run's held-out splits without its training split.

``generate_dataset`` draws the held-out splits before the training split (from one seeded stream, or from
a stream each: ``core.data.dataset.LAYOUTS``), so they do not depend on it: generating the dataset with a
single training example gives the same validation and test examples, at a fraction of the cost (a 1.28M-example decoder
dataset takes ~15 s to regenerate; its test split alone, well under a second). Evaluation, the Lab and
the counterexample views use this when they need no training data.
"""

from __future__ import annotations

from dataclasses import replace

from core.data.batching import EncodedSplit, encode_examples
from core.data.dataset import generate_dataset
from core.errors import DatasetError
from core.train.run import RunConfig

HELD_OUT = ("val", "test")


def held_out_split(config: RunConfig, split: str) -> EncodedSplit:
    """The ``"val"`` or ``"test"`` split of ``config``'s dataset, encoded for its model."""
    if split not in HELD_OUT:
        raise DatasetError(f"held-out splits are {' and '.join(HELD_OUT)}, not {split!r}")
    data = generate_dataset(replace(config.dataset, n_train=1))
    examples = data.val if split == "val" else data.test
    if not examples:
        raise DatasetError(f"this run has no {split} split ({'n_val' if split == 'val' else 'n_test'} is 0)")
    return encode_examples(examples, config.dataset.task, config.model.kind)
