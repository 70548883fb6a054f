"""Checkpoint files that hostile or broken files cannot hurt (issue 9), and the configs' memory budget.

Every file of a checkpoint is read only if it is a regular file inside its models folder and within its
size bound; a crafted config.json whose checksums were re-computed (so it passes the integrity checks)
is still checked field by field; one bad checkpoint never stops ``list_checkpoints``, ``workbench
models`` or the app's load dialog from showing the others.
"""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from safetensors.numpy import load, save

from core.errors import CheckpointError, ConfigError
from core.nn.config import ModelConfig, estimate_training_bytes, parameter_count
from core.nn.models import build_model
from core.train.checkpoint import format as ckpt_format
from core.train.checkpoint import list_checkpoints, read_checkpoint, save_checkpoint
from core.train.checkpoint import reader as ckpt_reader
from core.train.options import build_run_config
from core.train.run import Run
from tests.conftest import tiny_config
from workbench import cli

FILES = ("config.json", "weights.safetensors", "history.jsonl")


def _saved(name: str, steps: int = 2) -> Path:
    run = Run(tiny_config())
    for _ in range(steps):
        run.train_step()
    history = [{"series": "loss", "steps": [1, 2], "values": [2.0, 1.5], "stride": 1}]
    return save_checkpoint(run, name, history=history, metrics={"test_accuracy": 0.5})


def resign(path: Path, mutate: Callable[[dict[str, Any]], None] | None = None, history: bytes | None = None,
           raw: dict[str, str] | None = None) -> None:
    """Rewrite checkpoint ``path`` as a deliberate forger would: config.json changed by ``mutate``, the
    history replaced by ``history``, and every checksum re-computed so the integrity checks pass — the
    history's SHA-256 in config.json, config.json's SHA-256 (without ``weights``) in the safetensors
    metadata, the weights' SHA-256 in config.json. ``raw`` maps a string placeholder put in by
    ``mutate`` to the JSON text it becomes in the file (``json`` cannot write a 5,000-digit int, or
    100,000 brackets), in the checksummed text too."""
    cfg = json.loads((path / "config.json").read_text())
    if history is not None:
        (path / "history.jsonl").write_bytes(history)
        cfg["history"] = {"file": "history.jsonl", "sha256": ckpt_format.sha256(history), "bytes": len(history)}
    if mutate is not None:
        mutate(cfg)

    def text(obj: Any, **kw: Any) -> bytes:
        out = json.dumps(obj, **kw).encode()
        for placeholder, replacement in (raw or {}).items():
            out = out.replace(json.dumps(placeholder).encode(), replacement.encode())
        return out

    without = {k: v for k, v in cfg.items() if k != "weights"}
    canonical = text(without, sort_keys=True, separators=(",", ":"))
    tensors = load((path / "weights.safetensors").read_bytes())
    blob = save(tensors, metadata={"format": ckpt_format.FORMAT, "config_sha256": ckpt_format.sha256(canonical)})
    (path / "weights.safetensors").write_bytes(blob)
    cfg["weights"] = {"file": "weights.safetensors", "sha256": ckpt_format.sha256(blob), "bytes": len(blob)}
    (path / "config.json").write_bytes(text(cfg))


def test_resign_alone_keeps_a_checkpoint_readable(models_dir: Path) -> None:
    """The forger's helper itself is right: re-signing an unchanged checkpoint leaves it valid."""
    path = _saved("plain")
    resign(path, history=b'{"series": "loss", "steps": [1], "values": [1.0]}\n')
    ck = read_checkpoint("plain")
    assert ck.history[0]["series"] == "loss"
    ck.build_run()


def _finishes(fn: Callable[[], object], fifos: list[Path]) -> object:
    """``fn()`` in a thread; if it is still blocked after 20 s (a FIFO opened for reading waits for a
    writer for ever), open the FIFOs for writing to release it and fail — the test never hangs."""
    result: list[object] = []

    def target() -> None:
        try:
            result.append(fn())
        except BaseException as exc:
            result.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(20)
    if thread.is_alive():
        for fifo in fifos:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
        thread.join(5)
        pytest.fail("reading the checkpoint blocked on a FIFO")
    return result[0]


# -- files that are not what they seem ------------------------------------------------------------------
@pytest.mark.parametrize("file", FILES)
def test_a_symlink_to_dev_zero_is_refused(models_dir: Path, file: str) -> None:
    path = _saved("zero")
    (path / file).unlink()
    (path / file).symlink_to("/dev/zero")
    with pytest.raises(CheckpointError, match=f"{file}: (leads outside|is a symbolic link)"):
        read_checkpoint("zero")


@pytest.mark.parametrize("file", FILES)
def test_a_symlink_to_a_file_outside_the_folder_is_refused(models_dir: Path, tmp_path: Path, file: str) -> None:
    path = _saved("outlink")
    outside = tmp_path / "outside" / file
    outside.parent.mkdir()
    (path / file).rename(outside)  # the real, valid file: only its place is wrong
    (path / file).symlink_to(outside)
    with pytest.raises(CheckpointError, match=f"{file}: leads outside"):
        read_checkpoint("outlink")


@pytest.mark.parametrize("file", FILES)
def test_a_fifo_is_refused_without_blocking(models_dir: Path, file: str) -> None:
    path = _saved("fifo")
    (path / file).unlink()
    os.mkfifo(path / file)
    outcome = _finishes(lambda: read_checkpoint("fifo"), [path / file])
    assert isinstance(outcome, CheckpointError), outcome
    assert f"{file}: is not a regular file (a FIFO)" in str(outcome)
    listed = _finishes(list_checkpoints, [path / file])
    assert isinstance(listed, list) and [i.name for i in listed if i.error] == ["fifo"]
    out, err = io.StringIO(), io.StringIO()
    assert _finishes(lambda: cli.main(["models"], stdout=out, stderr=err), [path / file]) == 0
    assert "fifo" in out.getvalue() and "a FIFO" in out.getvalue()


def test_a_checkpoint_directory_that_is_a_symlink_out_of_the_folder_is_refused(
        models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv("LLMLEARN_MODELS", str(elsewhere))
    target = _saved("real")  # a valid checkpoint, in another folder
    monkeypatch.setenv("LLMLEARN_MODELS", str(models_dir))
    _saved("good")
    (models_dir / "linked").symlink_to(target, target_is_directory=True)
    with pytest.raises(CheckpointError, match="leads outside the models folder"):
        read_checkpoint("linked")
    errors = {i.name: i.error for i in list_checkpoints() if not i.shipped}
    assert errors["good"] is None and "leads outside" in str(errors["linked"])


@pytest.mark.parametrize(("file", "size"), [("config.json", 17 << 20), ("weights.safetensors", 5 << 20),
                                            ("history.jsonl", 33 << 20)])
def test_an_oversize_file_is_refused_before_it_is_read(models_dir: Path, file: str, size: int) -> None:
    """The bounds: config.json 16 MiB, history.jsonl 32 MiB, weights what the config's model can hold
    (here ~0.04 MiB of parameters, so 4.04 MiB with the header allowance)."""
    path = _saved("big")
    with open(path / file, "r+b") as f:
        f.truncate(size)  # sparse: costs no disk
    with pytest.raises(CheckpointError, match=f"{file}: is .* MiB, more than the"):
        read_checkpoint("big")


# -- crafted content with re-computed checksums ---------------------------------------------------------
BIG_INT = "9" * 5000
DEEP = "[" * 100_000 + "]" * 100_000


def _set(section: str, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(cfg: dict[str, Any]) -> None:
        target = cfg if section == "" else cfg[section]
        if value is _DELETE:
            del target[key]
        else:
            target[key] = value
    return mutate


_DELETE = object()

CRAFTED: dict[str, tuple[dict[str, Any], str]] = {
    "5000-digit step": ({"mutate": _set("state", "step", "@BIG@"), "raw": {"@BIG@": BIG_INT}}, "5,000 digits"),
    "deep metric": ({"mutate": _set("metrics", "x", "@DEEP@"), "raw": {"@DEEP@": DEEP}}, "nested more than"),
    "5000-digit history": ({"history": b'{"series": "loss", "steps": [1], "values": [' + BIG_INT.encode() + b"]}\n"},
                           "5,000 digits"),
    "deep history": ({"history": DEEP.encode() + b"\n"}, "nested more than"),
    "history not objects": ({"history": b"[1, 2]\n"}, "not a JSON object"),
    "missing step": ({"mutate": _set("state", "step", _DELETE)}, "'step' must be an integer"),
    "infinite step": ({"mutate": _set("state", "step", float("inf"))}, "Infinity is not a number"),
    "negative epoch": ({"mutate": _set("state", "epoch", -1)}, "'epoch' must be an integer"),
    "batch past the epoch": ({"mutate": _set("state", "batch_index", 10**6)}, "past the epoch"),
    "lr_scale a string": ({"mutate": _set("state", "lr_scale", "fast")}, "lr_scale"),
    "clip_norm a list": ({"mutate": _set("state", "clip_norm", [1])}, "clip_norm"),
    "unknown optimizer setting": ({"mutate": _set("state", "optimizer", {"warp": 9})}, "unknown optimizer setting"),
    "rng garbage": ({"mutate": _set("state", "rng", {"bit_generator": "PCG64", "state": 7})}, "random state"),
    "rng not a dict": ({"mutate": _set("state", "rng", "seed")}, "random state"),
    "edits garbage": ({"mutate": _set("state", "edits", [{"step": "now"}])}, "bad edit"),
    "metrics a list": ({"mutate": _set("", "metrics", [1, 2])}, "'metrics' must be an object"),
    "metric a string": ({"mutate": _set("metrics", "test_accuracy", "high")}, "must be a number or null"),
    "saved_at a number": ({"mutate": _set("", "saved_at", 12)}, "'saved_at' must be a short string"),
    "state a list": ({"mutate": _set("", "state", [])}, "missing 'state'"),
}


@pytest.mark.parametrize("case", list(CRAFTED))
def test_crafted_content_with_recomputed_checksums_is_refused_in_one_line(models_dir: Path, case: str) -> None:
    kwargs, message = CRAFTED[case]
    resign(_saved("crafted"), **kwargs)
    with pytest.raises(CheckpointError, match=message) as caught:
        read_checkpoint("crafted")
    assert "\n" not in str(caught.value) and "crafted" in str(caught.value)


def test_a_bad_model_never_hides_the_others_in_the_list_or_in_workbench_models(models_dir: Path) -> None:
    _saved("a-good")
    for i, case in enumerate(CRAFTED):
        resign(_saved(f"bad-{i:02d}"), **CRAFTED[case][0])
    fifo = _saved("bad-fifo")
    (fifo / "config.json").unlink()
    os.mkfifo(fifo / "config.json")
    (_saved("bad-zero") / "weights.safetensors").unlink()
    (models_dir / "bad-zero" / "weights.safetensors").symlink_to("/dev/zero")
    _saved("z-good")
    infos = [i for i in list_checkpoints() if not i.shipped]
    assert len(infos) == len(CRAFTED) + 4
    assert {i.name for i in infos if i.error is None} == {"a-good", "z-good"}
    assert all(i.error and "\n" not in i.error for i in infos if i.name.startswith("bad-"))
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["models"], stdout=out, stderr=err) == 0
    text = out.getvalue()
    assert "a-good" in text and "z-good" in text and "encoder-digits" in text
    assert text.count("unreadable:") == len(CRAFTED) + 2
    out = io.StringIO()
    assert cli.main(["models", "--json"], stdout=out, stderr=err) == 0
    assert len([m for m in json.loads(out.getvalue()) if m["error"]]) == len(CRAFTED) + 2


@pytest.mark.parametrize("command", [["eval", "bad"], ["predict", "bad", "Max(1, 2, 3)"]])
def test_eval_and_predict_of_a_crafted_checkpoint_print_one_error_line(models_dir: Path, command: list[str]) -> None:
    resign(_saved("bad"), **CRAFTED["infinite step"][0])
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(command, stdout=out, stderr=err) == cli.EXIT_USAGE
    assert err.getvalue().startswith("error: ") and err.getvalue().count("\n") == 1


def test_build_run_and_build_model_turn_any_failure_into_a_checkpoint_error(
        models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever goes wrong while building from a verified checkpoint (here: memory runs out) is one
    CheckpointError naming the checkpoint, for the CLI's ``error:`` line and the app's message."""
    _saved("oom")
    ck = read_checkpoint("oom")

    def out_of_memory(*args: object, **kwargs: object) -> None:
        raise MemoryError("Unable to allocate 96.0 GiB")

    monkeypatch.setattr(ckpt_reader, "Run", out_of_memory)
    monkeypatch.setattr(ckpt_reader, "build_model", out_of_memory)
    with pytest.raises(CheckpointError, match=r"oom.*MemoryError: Unable to allocate"):
        ck.build_run()
    with pytest.raises(CheckpointError, match=r"oom.*MemoryError: Unable to allocate"):
        ck.build_model()


# -- the memory budget ----------------------------------------------------------------------------------
def test_the_parameter_count_is_exact() -> None:
    for kind in ("encoder", "decoder"):
        for positional, norm in (("learned", "pre"), ("sinusoidal", "post")):
            c = ModelConfig(kind=kind, positional=positional, norm=norm, d_model=16, n_heads=2, d_ff=24, n_layers=3)
            assert parameter_count(c) == build_model(c).params.data.size


def test_a_huge_model_is_refused_with_the_memory_it_would_need() -> None:
    with pytest.raises(ConfigError, match=r"this model would need about 648\.1 GiB of memory: at most 4\.0 GiB"):
        ModelConfig(d_model=4096, n_layers=48, n_heads=8, d_ff=65_536)
    with pytest.raises(ConfigError, match="make d_model, n_layers or d_ff smaller"):
        build_run_config({"d_model": 4096, "n_layers": 48, "n_heads": 8, "d_ff": 65_536})
    with pytest.raises(ConfigError, match=r"this run would need about .* GiB.*batch_size"):
        build_run_config({"d_model": 512, "n_layers": 8, "n_heads": 8, "d_ff": 2048, "batch_size": 4096})
    with pytest.raises(ConfigError, match=r"this dataset would need about 16\.8 GiB"):
        build_run_config({"max_value": 99, "min_args": 2, "max_args": 5, "n_train": 10_000_000})


def test_the_defaults_and_the_shipped_models_fit_the_budget(models_dir: Path) -> None:
    config = build_run_config({})
    assert estimate_training_bytes(config.model, config.optimizer.batch_size, 12) < 100 << 20
    for name in ("encoder-digits", "decoder-0-99"):
        read_checkpoint(name)


def test_a_checkpoint_of_a_huge_model_is_refused_before_anything_is_allocated(models_dir: Path) -> None:
    resign(_saved("huge"), _set("run", "model", {**ModelConfig().to_dict(), "d_model": 4096, "n_layers": 48,
                                                  "n_heads": 8, "d_ff": 65_536}))
    with pytest.raises(CheckpointError, match=r"config.json: this model would need about .* GiB"):
        read_checkpoint("huge")


# -- the app ----------------------------------------------------------------------------------------------
async def test_the_load_dialog_lists_a_broken_model_with_its_reason(models_dir: Path) -> None:
    from textual.widgets import DataTable

    from tests.app_support import static_text, wait_for, wait_for_screen
    from workbench.app import WorkbenchApp
    from workbench.screens.load_checkpoint import LoadCheckpointScreen

    _saved("good")
    resign(_saved("broken"), **CRAFTED["infinite step"][0])
    app = WorkbenchApp()
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.press("ctrl+o")
        await wait_for_screen(pilot, LoadCheckpointScreen)
        await wait_for(pilot, lambda: "Reading" not in static_text(app, "#load-status"), what="the list")
        table = app.screen.query_one("#checkpoints", DataTable)
        rows = {str(table.get_row_at(i)[0]): [str(c) for c in table.get_row_at(i)] for i in range(table.row_count)}
        assert set(rows) == {"broken", "good", "encoder-digits", "decoder-0-99", "nested-digits", "nested-0-99"}
        assert rows["broken"][4].startswith("unreadable: config.json: not valid JSON")
        assert "Infinity" in rows["broken"][4] and rows["good"][1] == "encoder"
        table.move_cursor(row=list(rows).index("broken"))
        await pilot.press("enter")
        assert "broken cannot be loaded" in static_text(app, "#load-status")
        assert isinstance(app.screen, LoadCheckpointScreen)  # still open: nothing was loaded


async def test_the_load_dialog_says_why_when_listing_fails(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.app_support import static_text, wait_for, wait_for_screen
    from workbench.app import WorkbenchApp
    from workbench.screens import load_checkpoint

    def failing() -> None:
        raise PermissionError("models folder unreadable")

    monkeypatch.setattr(load_checkpoint, "list_checkpoints", failing)
    app = WorkbenchApp()
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.press("ctrl+o")
        await wait_for_screen(pilot, load_checkpoint.LoadCheckpointScreen)
        await wait_for(pilot, lambda: "Reading" not in static_text(app, "#load-status"), what="the failure")
        assert "cannot read the models folder: PermissionError: models folder unreadable" in static_text(
            app, "#load-status")
