"""Dataset files against hostile paths and hostile files: saves stay in the datasets folder unless the
user allows otherwise, never replace what is not a dataset file, and reads cannot hang, fill memory or
print more than one line.

No test writes to a real device: a device node is made inside ``tmp_path`` (where replacing it would
harm nothing) when the system lets us, and ``/dev/null`` is tried only where ``/dev`` is not writable.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import core.data.dataset_file as dataset_file
from core.data.dataset import Dataset, DatasetConfig, generate_dataset
from core.data.dataset_file import check_save_target, default_datasets_dir, load_dataset, save_dataset
from core.data.task import TaskConfig
from core.errors import DatasetError

TINY = DatasetConfig(TaskConfig(max_value=9, min_args=2, max_args=3), n_train=20, n_val=4, n_test=4, seed=1)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "data"
    monkeypatch.setenv("LLMLEARN_DATA", str(d))
    return d


@pytest.fixture
def tiny() -> Dataset:
    return generate_dataset(TINY)


def _one_line(exc: pytest.ExceptionInfo[DatasetError]) -> str:
    text = str(exc.value)
    assert "\n" not in text and "Traceback" not in text and len(text) <= 400, text
    return text


# -- confinement -----------------------------------------------------------------------------------------

def test_a_dotdot_escape_from_the_datasets_folder_is_refused(data_dir: Path, tiny: Dataset) -> None:
    with pytest.raises(DatasetError, match="outside the datasets folder") as info:
        save_dataset(tiny, "../../escaped.json", overwrite=True)
    assert str(data_dir.parent / "escaped.json") in _one_line(info)  # shown resolved, not as typed
    assert not (data_dir.parent / "escaped.json").exists()
    assert save_dataset(tiny, "sub/../kept.json") == default_datasets_dir() / "kept.json"  # stays inside: fine


def test_a_symlinked_folder_leading_out_is_refused(data_dir: Path, tmp_path: Path, tiny: Dataset) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (data_dir / "datasets").mkdir(parents=True)
    (data_dir / "datasets" / "link").symlink_to(outside)
    with pytest.raises(DatasetError, match="outside the datasets folder"):
        save_dataset(tiny, "link/x.json")
    assert list(outside.iterdir()) == []


def test_an_outside_path_is_written_only_with_permission(data_dir: Path, tmp_path: Path, tiny: Dataset) -> None:
    target = tmp_path / "mine.json"
    spot = check_save_target(target)
    assert (spot.path, spot.inside, spot.exists) == (target, False, False)
    assert spot.folder == default_datasets_dir().resolve()
    with pytest.raises(DatasetError, match="outside the datasets folder"):
        save_dataset(tiny, target)
    assert not target.exists()
    assert save_dataset(tiny, target, allow_outside=True) == target
    assert load_dataset(target).train == tiny.train


# -- what is at the target -----------------------------------------------------------------------------

def test_an_existing_dataset_file_is_replaced_only_with_overwrite(data_dir: Path, tiny: Dataset) -> None:
    path = save_dataset(tiny, "d.json")
    before = path.read_bytes()
    assert check_save_target("d.json").exists
    other = generate_dataset(DatasetConfig(TINY.task, n_train=20, n_val=4, n_test=4, seed=2))
    with pytest.raises(DatasetError, match="already exists"):
        save_dataset(other, "d.json")
    assert path.read_bytes() == before
    save_dataset(other, "d.json", overwrite=True)
    assert load_dataset("d.json").train == other.train


@pytest.mark.parametrize("content", [b"export PATH=/evil:$PATH\n", b"", b'{"format": "something-else"}',
                                     b"[1, 2, 3]", b"\xff\xfe binary"])
def test_a_file_that_is_not_a_dataset_is_never_replaced(data_dir: Path, tiny: Dataset, content: bytes) -> None:
    folder = default_datasets_dir()
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_bytes(content)
    with pytest.raises(DatasetError, match="not an llmlearn dataset file; refusing to replace it"):
        save_dataset(tiny, "notes.txt", overwrite=True, allow_outside=True)
    with pytest.raises(DatasetError, match="not an llmlearn dataset file"):
        check_save_target("notes.txt")
    assert (folder / "notes.txt").read_bytes() == content


def _fifo(p: Path) -> None:
    os.mkfifo(p)


def _folder(p: Path) -> None:
    p.mkdir()


def _symlink_to_a_dataset(p: Path) -> None:
    real = p.with_name("real.json")
    save_dataset(generate_dataset(TINY), real, allow_outside=True)
    p.symlink_to(real)


def _socket(p: Path) -> None:
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(p))
    s.close()


def _device(p: Path) -> None:
    try:  # a /dev/null-like node, but in tmp_path: replacing it by mistake would harm nothing
        os.mknod(p, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except (PermissionError, AttributeError):
        pytest.skip("cannot create a device node here")


@pytest.mark.parametrize("make, kind", [(_fifo, "a FIFO"), (_folder, "a folder"),
                                        (_symlink_to_a_dataset, "a symbolic link"), (_socket, "a socket"),
                                        (_device, "a character device")],
                         ids=["fifo", "folder", "symlink", "socket", "device"])
def test_non_regular_targets_are_refused_and_left_alone(tmp_path: Path, tiny: Dataset,
                                                        make: Callable[[Path], None], kind: str) -> None:
    target = tmp_path / "target.json"
    make(target)
    before = os.lstat(target)
    with pytest.raises(DatasetError, match=f"is {kind}; a dataset is never saved over one") as info:
        save_dataset(tiny, target, overwrite=True, allow_outside=True)
    _one_line(info)
    after = os.lstat(target)
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []  # no temp file left


@pytest.mark.skipif(os.access("/dev", os.W_OK), reason="/dev is writable here: never risk replacing /dev/null")
def test_dev_null_is_refused(tiny: Dataset) -> None:
    with pytest.raises(DatasetError, match="character device"):
        save_dataset(tiny, "/dev/null", overwrite=True, allow_outside=True)
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)


def test_a_path_that_is_not_a_file_name_is_refused(data_dir: Path, tiny: Dataset) -> None:
    for path in ("", "..", "sub/"):
        with pytest.raises(DatasetError):
            save_dataset(tiny, path, overwrite=True)
    assert not default_datasets_dir().exists() or not any(default_datasets_dir().iterdir())


def test_a_dataset_too_big_to_read_back_is_not_saved(data_dir: Path, tiny: Dataset,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dataset_file, "MAX_DATASET_FILE_BYTES", 500)
    with pytest.raises(DatasetError, match="more than the"):
        save_dataset(tiny, "big.json")
    assert not (default_datasets_dir() / "big.json").exists()


# -- reading hostile files ----------------------------------------------------------------------------

@contextlib.contextmanager
def _released_if_stuck(fifo: Path) -> Iterator[None]:
    """If a read of ``fifo`` is stuck waiting for a writer, open the writing end so the test ends."""
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # succeeds only if someone waits to read
            os.close(fd)


def test_reading_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    outcome: list[BaseException | None] = []

    def load() -> None:
        try:
            load_dataset(fifo)
            outcome.append(None)
        except BaseException as exc:  # handed to the test's thread
            outcome.append(exc)

    with _released_if_stuck(fifo):
        t = threading.Thread(target=load, daemon=True)
        t.start()
        t.join(30)  # not a timing check: only so that a blocking open fails the test instead of hanging it
        assert not t.is_alive(), "load_dataset blocked on a FIFO"
    assert isinstance(outcome[0], DatasetError) and "not a regular file (a FIFO)" in str(outcome[0])


def test_a_symlink_to_dev_zero_is_refused_without_reading(tmp_path: Path) -> None:
    link = tmp_path / "zero.json"
    link.symlink_to("/dev/zero")
    with pytest.raises(DatasetError, match="symbolic link") as info:
        load_dataset(link)
    _one_line(info)
    with pytest.raises(DatasetError, match="character device"):
        load_dataset("/dev/zero")


def test_a_file_larger_than_any_dataset_is_refused(tmp_path: Path, tiny: Dataset,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_dataset(tiny, tmp_path / "d.json", allow_outside=True)
    monkeypatch.setattr(dataset_file, "MAX_DATASET_FILE_BYTES", path.stat().st_size - 1)
    with pytest.raises(DatasetError, match="MiB such a file can be"):
        load_dataset(path)


def test_the_bound_fits_the_largest_flat_dataset() -> None:
    longest = "Second(" + ", ".join(["99"] * 10) + ")"
    line = len("      " + json.dumps([longest, 99]) + ",\n")
    assert (10_000_000 + 2 * 1_000_000) * line <= dataset_file.MAX_DATASET_FILE_BYTES
    assert dataset_file.MAX_DATASET_FILE_BYTES < 1 << 30


@pytest.mark.parametrize("content, match", [
    (b"[" * 100_000, "nested too deeply"),
    (b'{"format": "llmlearn-dataset", "version": ' + b"7" * 5_000 + b"}", "more than 4,300 digits"),
    (b"1" * 5_000, "more than 4,300 digits"),
    (b'{"format": "llmlearn-dataset", "version": "' + b"v" * 100_000 + b'"}', "unsupported dataset version"),
    (b'{"format": "llmlearn-dataset", "version": 1, "config": {"task": "' + b"x\\n" * 50_000 + b'"}, '
     b'"splits": {}}', "bad config"),
], ids=["deep", "huge-version", "huge-int", "long-version", "long-config"])
def test_hostile_json_gives_one_short_line(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "hostile.json"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=match) as info:
        load_dataset(path)
    _one_line(info)


def test_a_file_name_with_a_newline_still_gives_one_line(tmp_path: Path) -> None:
    path = tmp_path / "two\nlines.json"
    path.write_text("not json")
    with pytest.raises(DatasetError, match="not valid JSON") as info:
        load_dataset(path)
    assert "two\\nlines.json" in _one_line(info)
