"""Dataset generation (determinism, balance, disjoint splits, nesting) and the file format's checks."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.data.dataset import (
    Dataset,
    DatasetConfig,
    Example,
    generate_dataset,
)
from core.data.dataset_file import load_dataset, save_dataset
from core.data.expression import Expression, parse_expression
from core.data.sampling import count_flat_expressions
from core.data.task import TaskConfig
from core.errors import ConfigError, DatasetError

SMALL = DatasetConfig(n_train=2_000, n_val=300, n_test=300, seed=3)


@pytest.fixture(scope="module")
def small() -> Dataset:
    return generate_dataset(SMALL)


def _texts(examples: list[Example]) -> list[str]:
    return [e.text for e in examples]


# ---------------------------------------------------------------------------------------------------
# Config.


def test_config_validation_and_round_trip() -> None:
    c = DatasetConfig(TaskConfig(max_value=99), n_train=5, n_val=0, n_test=2, seed=7)
    assert DatasetConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    for kwargs, match in [
        ({"n_train": 0}, "n_train"),
        ({"n_val": -1}, "n_val"),
        ({"n_test": 1.5}, "n_test must be an integer"),
        ({"seed": -1}, "seed"),
        ({"task": {"max_value": 9}}, "TaskConfig"),
    ]:
        with pytest.raises(ConfigError, match=match):
            DatasetConfig(**kwargs)
    bad = c.to_dict()
    del bad["seed"]
    with pytest.raises(ConfigError, match="missing seed"):
        DatasetConfig.from_dict(bad)
    with pytest.raises(ConfigError, match="unknown keys: extra"):
        DatasetConfig.from_dict({**c.to_dict(), "extra": 1})


# ---------------------------------------------------------------------------------------------------
# Generation.


def test_same_config_same_dataset(small: Dataset) -> None:
    again = generate_dataset(SMALL)
    for name in ("train", "val", "test"):
        assert _texts(again.split(name)) == _texts(small.split(name))
    other = generate_dataset(DatasetConfig(n_train=2_000, n_val=300, n_test=300, seed=4))
    assert _texts(other.train) != _texts(small.train)


def test_held_out_splits_do_not_depend_on_n_train(small: Dataset) -> None:
    bigger = generate_dataset(DatasetConfig(n_train=5_000, n_val=300, n_test=300, seed=3))
    assert _texts(bigger.val) == _texts(small.val)
    assert _texts(bigger.test) == _texts(small.test)


def test_sizes_answers_and_ranges(small: Dataset) -> None:
    assert (len(small.train), len(small.val), len(small.test)) == (2_000, 300, 300)
    for name in ("train", "val", "test"):
        for ex in small.split(name):
            assert ex.answer == ex.expression.evaluate()
            assert ex.expression.n_args == 3
            assert all(0 <= a <= 9 for a in ex.expression.args)  # type: ignore[operator]


def test_operations_are_balanced(small: Dataset) -> None:
    for name in ("train", "val", "test"):
        counts = Counter(ex.expression.op for ex in small.split(name))
        assert set(counts) == set(SMALL.task.operations)
        assert max(counts.values()) - min(counts.values()) <= 1


def test_splits_are_disjoint_and_held_out_splits_distinct(small: Dataset) -> None:
    train, val, test = (set(_texts(small.split(n))) for n in ("train", "val", "test"))
    assert len(val) == len(small.val) and len(test) == len(small.test)
    assert not (train & val) and not (train & test) and not (val & test)


def test_argument_counts_and_numbers_are_uniform() -> None:
    task = TaskConfig(max_value=99, min_args=1, max_args=4)
    ds = generate_dataset(DatasetConfig(task, n_train=20_000, n_val=0, n_test=0))
    by_n = Counter((ex.expression.op, ex.expression.n_args) for ex in ds.train)
    assert {n for op, n in by_n if op == "Second"} == {2, 3, 4}
    assert {n for op, n in by_n if op == "Max"} == {1, 2, 3, 4}
    for op in task.operations:
        lo, hi = task.arg_range(op)
        per_op = [by_n[(op, n)] for n in range(lo, hi + 1)]
        assert max(per_op) < 1.25 * min(per_op)  # ~4000/(hi-lo+1) each
    numbers = Counter(a for ex in ds.train for a in ex.expression.args)
    assert set(numbers) == set(range(100))


def test_space_too_small_is_refused_with_the_numbers() -> None:
    task = TaskConfig(operations=("Max", "Min"), min_args=1, max_args=1)  # 10 expressions per op
    assert count_flat_expressions(task) == {"Max": 10, "Min": 10}
    with pytest.raises(DatasetError, match=r"only 10 distinct Max expressions.*need 6"):
        generate_dataset(DatasetConfig(task, n_train=10, n_val=6, n_test=6))
    # Exactly half is allowed, and train then only uses the other half.
    ds = generate_dataset(DatasetConfig(task, n_train=200, n_val=6, n_test=4))
    held_out = set(_texts(ds.val)) | set(_texts(ds.test))
    assert len(held_out) == 10
    assert len(set(_texts(ds.train))) == 10 and not held_out & set(_texts(ds.train))


def test_half_the_default_space_is_reachable() -> None:
    ds = generate_dataset(DatasetConfig(n_train=1_000, n_val=1_250, n_test=1_250))  # 500 of 1000 per op
    assert len(set(_texts(ds.val)) | set(_texts(ds.test))) == 2_500


def test_nested_generation() -> None:
    task = TaskConfig(max_value=9, min_args=2, max_args=3, max_depth=2)
    ds = generate_dataset(DatasetConfig(task, n_train=2_000, n_val=200, n_test=200, seed=1))
    depths = Counter(ex.expression.depth for ex in ds.train)
    assert set(depths) == {1, 2} and depths[2] > 500  # P(flat) = 0.7^k for k = 2..3 args
    for ex in ds.train + ds.val + ds.test:
        assert ex.answer == ex.expression.evaluate()
        assert parse_expression(ex.text, task) == ex.expression
    assert not set(_texts(ds.train)) & (set(_texts(ds.val)) | set(_texts(ds.test)))
    deep = generate_dataset(DatasetConfig(TaskConfig(max_depth=3), n_train=2_000, n_val=0, n_test=0))
    assert max(ex.expression.depth for ex in deep.train) == 3


def test_progress_is_reported() -> None:
    calls: list[tuple[int, int]] = []
    generate_dataset(DatasetConfig(n_train=3_000, n_val=500, n_test=500), lambda d, t: calls.append((d, t)))
    assert calls[0] == (0, 4_000) and calls[-1] == (4_000, 4_000)
    done = [d for d, _ in calls]
    assert done == sorted(done) and len(calls) >= 10


def test_stats(small: Dataset) -> None:
    s = small.stats("val")
    assert s["n"] == 300 and s["distinct"] == 300
    assert s["by_operation"] == {op: 60 for op in SMALL.task.operations}
    assert s["by_n_args"] == {3: 300}
    assert s["token_lengths"] == {8: 300}
    assert sum(s["by_answer"].values()) == 300 and set(s["by_answer"]) == set(range(10))
    with pytest.raises(DatasetError, match="unknown split 'dev'"):
        small.stats("dev")
    with pytest.raises(DatasetError, match="unknown split"):
        small.split("TRAIN")


def test_repr_is_short(small: Dataset) -> None:
    assert len(repr(small)) < 200


# ---------------------------------------------------------------------------------------------------
# Files.

TINY = DatasetConfig(TaskConfig(max_value=99, min_args=2, max_args=3), n_train=40, n_val=8, n_test=8, seed=5)


@pytest.fixture
def tiny_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.json"
    save_dataset(generate_dataset(TINY), path, allow_outside=True)
    return path


def test_save_load_round_trip(small: Dataset, tmp_path: Path) -> None:
    path = tmp_path / "ds.json"
    save_dataset(small, path, allow_outside=True)
    loaded = load_dataset(path)
    assert loaded.config == small.config
    for name in ("train", "val", "test"):
        assert loaded.split(name) == small.split(name)
    assert [p.name for p in tmp_path.iterdir()] == ["ds.json"]  # no temp file left behind
    save_dataset(small, path, allow_outside=True, overwrite=True)  # overwriting a dataset file, when asked to
    assert load_dataset(path).train == small.train


def test_file_is_readable_json_one_example_per_line(tiny_file: Path) -> None:
    text = tiny_file.read_text()
    data = json.loads(text)
    assert data["format"] == "llmlearn-dataset" and data["version"] == 1
    assert data["config"] == TINY.to_dict()
    first = data["splits"]["train"][0]
    assert f"      {json.dumps(first)}," in text.splitlines()
    assert parse_expression(first[0]).evaluate() == first[1]


def test_empty_held_out_splits_round_trip(tmp_path: Path) -> None:
    ds = generate_dataset(DatasetConfig(n_train=5, n_val=0, n_test=0))
    save_dataset(ds, tmp_path / "d.json", allow_outside=True)
    assert load_dataset(tmp_path / "d.json").train == ds.train


def test_save_refuses_inconsistent_dataset_and_bad_paths(small: Dataset, tmp_path: Path) -> None:
    broken = Dataset(small.config, small.train[:-1], small.val, small.test)
    with pytest.raises(DatasetError, match="n_train=2,000 but train holds 1,999"):
        save_dataset(broken, tmp_path / "x.json", allow_outside=True)
    save_dataset(small, tmp_path / "new" / "folders" / "d.json", allow_outside=True)  # folders are created
    assert (tmp_path / "new" / "folders" / "d.json").is_file()
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(DatasetError, match="cannot write"):
        save_dataset(small, tmp_path / "a-file" / "d.json", allow_outside=True)


def _edit(path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


def _set_answer(d: dict[str, Any]) -> None:
    entry = d["splits"]["train"][4]
    entry[1] = (entry[1] + 1) % 100


def _overlap(d: dict[str, Any]) -> None:
    d["splits"]["train"][0] = d["splits"]["val"][2]


def _repeat_in_test(d: dict[str, Any]) -> None:
    d["splits"]["test"][1] = d["splits"]["test"][0]


CORRUPTIONS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("wrong answer", _set_answer, r"train entry 5: stored answer \d+ is wrong"),
    ("overlap", _overlap, r"in both val \(entry 3\) and train \(entry 1\)"),
    ("repeat", _repeat_in_test, r"test entries 1 and 2 are both"),
    ("unparsable", lambda d: d["splits"]["val"].__setitem__(0, ["Max(3,,4)", 4]), "val entry 1 'Max.*missing argument"),
    ("outside task", lambda d: d["splits"]["val"].__setitem__(0, ["Max(1, 2, 3, 4)", 4]), "too many arguments"),
    ("not a pair", lambda d: d["splits"]["train"].__setitem__(2, ["Max(1, 2)"]), "train entry 3 must be"),
    ("bool answer", lambda d: d["splits"]["train"].__setitem__(2, ["Max(0, 1)", True]), "train entry 3 must be"),
    ("count", lambda d: d["splits"]["train"].pop(), "n_train=40 but the file holds 39"),
    ("format", lambda d: d.update(format="other"), "not an llmlearn dataset file"),
    ("version", lambda d: d.update(version=2), "unsupported dataset version 2"),
    ("extra key", lambda d: d.update(comment="hi"), "unknown keys comment"),
    ("missing splits", lambda d: d.pop("splits"), "missing splits"),
    ("split names", lambda d: d["splits"].pop("test"), "exactly the keys"),
    ("split type", lambda d: d["splits"].update(val="Max(1, 2)"), "split 'val' must be a list"),
    ("bad config", lambda d: d["config"]["task"].update(max_value=100), "bad config: max_value"),
]


@pytest.mark.parametrize("name, change, match", CORRUPTIONS, ids=[c[0] for c in CORRUPTIONS])
def test_edited_files_are_refused(tiny_file: Path, name: str, change: Callable, match: str) -> None:
    _edit(tiny_file, change)
    with pytest.raises(DatasetError, match=match) as info:
        load_dataset(tiny_file)
    assert str(tiny_file) in str(info.value)


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"not json", "not valid JSON"),
        (b"[1, 2]", "not an llmlearn dataset"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"[" * 100_000, "not valid JSON|nested"),
        (b"1" * 5_000, "not valid JSON"),
    ],
)
def test_non_dataset_files_are_refused(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=match):
        load_dataset(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file"):
        load_dataset(tmp_path / "nope.json")
    with pytest.raises(DatasetError, match="directory"):
        load_dataset(tmp_path)


def test_truncated_file_is_refused_at_every_cut(tiny_file: Path, tmp_path: Path) -> None:
    data = tiny_file.read_bytes()
    cut = tmp_path / "cut.json"
    for n in range(0, len(data) - 2, 7):
        cut.write_bytes(data[:n])
        with pytest.raises(DatasetError):
            load_dataset(cut)
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match="truncated"):
        load_dataset(cut)


def test_single_byte_edits_never_raise_anything_else(tiny_file: Path, tmp_path: Path) -> None:
    data = bytearray(tiny_file.read_bytes())
    path = tmp_path / "edit.json"
    rng = np.random.default_rng(0)
    for i, b in zip(rng.integers(0, len(data), 600), rng.choice(list(b'09 x",]\xff'), 600), strict=True):
        edited = data.copy()
        edited[i] = b
        path.write_bytes(edited)
        try:
            loaded = load_dataset(path)
        except DatasetError:
            continue
        for ex in loaded.train + loaded.val + loaded.test:  # whatever still loads is correct
            assert ex.answer == ex.expression.evaluate()


def test_hand_written_file_with_lenient_spelling_loads(tmp_path: Path) -> None:
    config = DatasetConfig(TaskConfig(operations=("Max",), min_args=2, max_args=2), n_train=2, n_val=1, n_test=0)
    path = tmp_path / "hand.json"
    path.write_text(
        json.dumps(
            {
                "format": "llmlearn-dataset",
                "version": 1,
                "config": config.to_dict(),
                "splits": {"train": [["max(1,2)", 2], ["max(1,2)", 2]], "val": [["MAX ( 3 , 4 )", 4]], "test": []},
            }
        )
    )
    ds = load_dataset(path)
    assert ds.train[0] is ds.train[1]  # identical lines share one object
    assert ds.val == [Example(Expression("Max", (3, 4)), 4)]


def test_a_dataset_file_with_a_duplicate_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    save_dataset(generate_dataset(TINY), path, allow_outside=True)
    text = path.read_text()
    doctored = text.replace('"format":', '"version": 1, "format":', 1)
    assert doctored != text
    path.write_text(doctored)
    with pytest.raises(DatasetError, match="appears twice"):
        load_dataset(path)


def test_the_test_split_depends_only_on_the_task_its_size_and_the_seed() -> None:
    """Layout 2: a different validation or training size leaves the test examples as they were (layout 1,
    of configs saved before it, drew test after validation from one stream)."""
    task = TaskConfig(max_value=99, min_args=2, max_args=4)
    base = generate_dataset(DatasetConfig(task=task, n_train=300, n_val=50, n_test=80, seed=3))
    for other in (DatasetConfig(task=task, n_train=900, n_val=120, n_test=80, seed=3),
                  DatasetConfig(task=task, n_train=10, n_val=1, n_test=80, seed=3)):
        assert [e.text for e in generate_dataset(other).test] == [e.text for e in base.test]
    legacy = [DatasetConfig(task=task, n_train=300, n_val=n, n_test=80, seed=3, layout=1) for n in (50, 120)]
    assert [e.text for e in generate_dataset(legacy[0]).test] != [e.text for e in generate_dataset(legacy[1]).test]
    held = {e.text for e in base.val} | {e.text for e in base.test}
    assert not held & {e.text for e in base.train}
    assert not {e.text for e in base.val} & {e.text for e in base.test}


def test_a_config_without_a_layout_is_read_as_the_legacy_one() -> None:
    config = DatasetConfig(task=TaskConfig(), n_train=10, n_val=5, n_test=5)
    data = config.to_dict()
    assert data["layout"] == 2 and DatasetConfig.from_dict(data) == config
    del data["layout"]
    assert DatasetConfig.from_dict(data).layout == 1
    with pytest.raises(ConfigError, match="layout"):
        DatasetConfig(task=TaskConfig(), layout=3)
