"""Checkpoints: exact round trip, atomic saves, and refusal of anything damaged or unsafe."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from core.errors import CheckpointError
from core.train import checkpoint as ckpt
from core.train.checkpoint import format as ckpt_format
from core.train.checkpoint import list_checkpoints, read_checkpoint, save_checkpoint
from core.train.checkpoint import reader as ckpt_reader
from core.train.checkpoint import writer as ckpt_writer
from core.train.run import Run
from tests.conftest import tiny_config


def _trained(steps: int = 12, kind: str = "encoder", **kw: object) -> Run:
    run = Run(tiny_config(kind=kind, dropout=0.1, **kw))  # dropout: the RNG state must be restored too
    for _ in range(steps):
        run.train_step()
    return run


@pytest.mark.parametrize("kind", ["encoder", "decoder"])
def test_resume_is_bit_identical_to_an_uninterrupted_run(models_dir: Path, kind: str) -> None:
    straight = _trained(12, kind)
    for _ in range(25):  # crosses an epoch boundary (10 steps per epoch)
        straight.train_step()

    first = _trained(12, kind)
    first.set_learning_rate(first.trainer.current_lr())  # an edit is part of the state too
    straight_edits = [{"step": 12, "field": "lr", "value": first.edits[0]["value"]}]
    save_checkpoint(first, "run-a", metrics={"val_accuracy": 0.5})
    resumed, warnings = read_checkpoint("run-a").build_run()
    assert warnings == []
    assert resumed.edits == straight_edits
    losses = [resumed.train_step().loss for _ in range(25)]
    assert resumed.step == straight.step == 37
    assert np.array_equal(resumed.model.params.data, straight.model.params.data)
    assert np.array_equal(resumed.trainer.optimizer.state["m"], straight.trainer.optimizer.state["m"])
    assert all(np.isfinite(losses))


def test_checkpoint_files_are_data(models_dir: Path) -> None:
    run = _trained(3)
    path = save_checkpoint(run, "data-only", history=[{"series": "train/loss", "steps": [1], "values": [2.0]}])
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "history.jsonl", "weights.safetensors"]
    config = json.loads((path / "config.json").read_text())
    assert config["format"] == "llmlearn-checkpoint" and config["version"] == 1
    assert config["run"]["model"]["d_model"] == 16 and "[PAD]" in config["vocab"]["tokens"]
    ck = read_checkpoint("data-only")
    assert ck.history[0]["series"] == "train/loss"
    model = ck.build_model()
    assert np.array_equal(model.params.data, run.model.params.data)


def test_an_edited_or_truncated_history_is_detected_by_its_checksum(models_dir: Path) -> None:
    run = _trained(3)
    path = save_checkpoint(run, "hist", history=[{"series": "train/loss", "steps": [1, 2], "values": [2.0, 1.5]}])
    assert json.loads((path / "config.json").read_text())["history"]["file"] == "history.jsonl"
    good = (path / "history.jsonl").read_bytes()
    for damaged in (good.replace(b"1.5", b"0.1"), good[:-5], b""):
        (path / "history.jsonl").write_bytes(damaged)
        with pytest.raises(CheckpointError, match=r"history\.jsonl: does not match the checksum"):
            read_checkpoint("hist")
    (path / "history.jsonl").unlink()
    with pytest.raises(CheckpointError, match=r"history\.jsonl"):
        read_checkpoint("hist")


def test_save_replaces_an_existing_checkpoint(models_dir: Path) -> None:
    run = _trained(3)
    save_checkpoint(run, "same")
    run.train_step()
    save_checkpoint(run, "same")
    assert read_checkpoint("same").state["step"] == 4
    assert sorted(p.name for p in models_dir.iterdir()) == ["same"]  # no leftovers


@pytest.mark.parametrize("crash_at", ["write", "swap"])
def test_a_crash_mid_save_leaves_the_previous_checkpoint(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch, crash_at: str
) -> None:
    run = _trained(3)
    save_checkpoint(run, "safe")
    before = read_checkpoint("safe").tensors
    run.train_step()

    class CrashError(Exception):
        pass

    real_rename = os.rename

    def boom(path: Path, data: bytes) -> None:
        path.write_bytes(data[: len(data) // 2])  # half a file, then the "power cut"
        raise CrashError

    def rename(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        real_rename(src, dst)
        if Path(dst).name == ".safe.old":  # old moved away, new not yet in place
            raise CrashError

    with monkeypatch.context() as patch:
        if crash_at == "write":
            patch.setattr(ckpt_writer, "_write_bytes", boom)
        else:
            patch.setattr(ckpt_writer.os, "rename", rename)
        with pytest.raises(CrashError):
            save_checkpoint(run, "safe")
    ck = read_checkpoint("safe")  # recovers the previous checkpoint
    assert ck.state["step"] == 3
    assert all(np.array_equal(before[k], ck.tensors[k]) for k in before)
    assert [i.name for i in list_checkpoints() if not i.shipped] == ["safe"]


def test_diverged_weights_are_never_saved(models_dir: Path) -> None:
    run = _trained(3)
    save_checkpoint(run, "good")
    run.model.params.data[0] = np.nan
    with pytest.raises(CheckpointError, match="not finite"):
        save_checkpoint(run, "good")
    assert read_checkpoint("good").state["step"] == 3


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/b", "", ".hidden", "x" * 65, "..", "a..b"])
def test_names_that_could_escape_are_refused(models_dir: Path, name: str) -> None:
    with pytest.raises(CheckpointError, match="invalid checkpoint name"):
        save_checkpoint(_trained(1), name)
    with pytest.raises(CheckpointError, match="invalid checkpoint name"):
        read_checkpoint(name)


def _damage(path: Path, how: str) -> None:
    cfg, weights = path / "config.json", path / "weights.safetensors"
    if how == "truncated weights":
        weights.write_bytes(weights.read_bytes()[:-100])
    elif how == "flipped weight byte":
        b = bytearray(weights.read_bytes())
        b[-5] ^= 0xFF
        weights.write_bytes(bytes(b))
    elif how == "truncated config":
        cfg.write_text(cfg.read_text()[:200])
    elif how == "edited config":
        data = json.loads(cfg.read_text())
        data["run"]["optimizer"]["lr"] = 0.5
        cfg.write_text(json.dumps(data))
    elif how == "mismatched shapes":
        data = json.loads(cfg.read_text())
        data["run"]["model"]["d_ff"] = 64
        cfg.write_text(json.dumps(data))
    elif how == "missing weights":
        weights.unlink()
    elif how == "newer version":
        data = json.loads(cfg.read_text())
        data["version"] = 99
        cfg.write_text(json.dumps(data))
    elif how == "pickle instead of safetensors":
        import pickle  # only to build a hostile file; it is never loaded

        weights.write_bytes(pickle.dumps({"x": 1}))
    elif how == "not json":
        cfg.write_bytes(b"\x80\x81 garbage")


@pytest.mark.parametrize("how", ["truncated weights", "flipped weight byte", "truncated config", "edited config",
                                 "mismatched shapes", "missing weights", "newer version",
                                 "pickle instead of safetensors", "not json"])
def test_damaged_checkpoints_are_refused_with_a_clear_message(models_dir: Path, how: str) -> None:
    path = save_checkpoint(_trained(2), "victim")
    _damage(path, how)
    with pytest.raises(CheckpointError) as info:
        read_checkpoint("victim").build_model()
    assert "victim" in str(info.value)
    listed = list_checkpoints()
    assert listed[0].name == "victim" and listed[0].error


def test_weights_consistent_with_a_forged_checksum_are_still_checked(models_dir: Path) -> None:
    """Even with both checksums recomputed (a deliberate forgery), shapes and values are validated."""
    path = save_checkpoint(_trained(2), "forged")
    from safetensors.numpy import load, save

    blob = (path / "weights.safetensors").read_bytes()
    tensors = load(blob)
    tensors["model.head.w"] = tensors["model.head.w"][:, :3].copy()
    cfg = json.loads((path / "config.json").read_text())
    new_blob = save(tensors, metadata=ckpt_reader._safetensors_metadata(blob))
    cfg["weights"] = {"file": "weights.safetensors", "sha256": ckpt_format.sha256(new_blob), "bytes": len(new_blob)}
    (path / "weights.safetensors").write_bytes(new_blob)
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="shape"):
        read_checkpoint("forged").build_model()


def test_list_checkpoints_reports_task_and_metrics(models_dir: Path) -> None:
    save_checkpoint(_trained(2), "b-model", metrics={"test_accuracy": 0.75})
    save_checkpoint(_trained(2, kind="decoder"), "a-model")
    infos = list_checkpoints()
    # the user's own first, by name, then the shipped ones, marked
    assert [(i.name, i.shipped) for i in infos] == [("a-model", False), ("b-model", False),
                                                     ("decoder-0-99", True), ("encoder-digits", True),
                                                     ("nested-0-99", True),
                                                     ("nested-digits", True)]
    assert infos[0].kind == "decoder" and infos[1].metrics["test_accuracy"] == 0.75
    assert "0–9" in infos[1].task and infos[1].step == 2


# -- shipped models: read-only, listed and marked, never hidden or overwritten --------------------------
def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_shipped_models_are_listed_marked_and_read_from_the_shipped_folder(models_dir: Path) -> None:
    shipped = ckpt.shipped_models_dir()
    infos = list_checkpoints()
    assert [(i.name, i.shipped, i.error) for i in infos] == [("decoder-0-99", True, None),
                                                             ("encoder-digits", True, None),
                                                             ("nested-0-99", True, None),
                                                             ("nested-digits", True, None)]
    assert all(i.path.parent == shipped for i in infos)
    ck = read_checkpoint("encoder-digits")
    assert ck.shipped and ck.path == shipped / "encoder-digits"
    assert ckpt.is_shipped("encoder-digits") and ckpt.is_shipped("decoder-0-99")
    for name in ("Encoder-Digits", "encoder", "mine", "../saved_models/encoder-digits", "", None):
        assert not ckpt.is_shipped(name)


@pytest.mark.parametrize("name", ["encoder-digits", "decoder-0-99"])
def test_saving_under_a_shipped_name_is_refused(models_dir: Path, name: str) -> None:
    shipped = ckpt.shipped_models_dir()
    before = _tree(shipped / name)
    with pytest.raises(CheckpointError, match="shipped with the workbench and is never overwritten"):
        save_checkpoint(_trained(1), name)
    with pytest.raises(CheckpointError, match="never overwritten"):  # whatever the folder
        save_checkpoint(_trained(1), name, root=models_dir / "elsewhere")
    assert not models_dir.exists()  # nothing written
    assert _tree(shipped / name) == before


def test_saving_inside_the_shipped_folder_is_refused(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = ckpt.shipped_models_dir()
    before = sorted(p.name for p in shipped.iterdir())
    with pytest.raises(CheckpointError, match="inside the folder of shipped models"):
        save_checkpoint(_trained(1), "new-name", root=shipped)
    monkeypatch.setenv("LLMLEARN_MODELS", str(shipped))  # the user folder pointed at the shipped one
    with pytest.raises(CheckpointError, match="inside the folder of shipped models"):
        save_checkpoint(_trained(1), "new-name")
    assert sorted(p.name for p in shipped.iterdir()) == before
    names = ["decoder-0-99", "encoder-digits", "nested-0-99", "nested-digits"]
    assert [i.name for i in list_checkpoints()] == names  # listed once


def test_a_user_folder_with_a_shipped_name_cannot_hide_the_shipped_model(models_dir: Path) -> None:
    """The program never creates one (saving is refused), but a copied folder must not win either."""
    fake = save_checkpoint(_trained(2), "fake")
    fake.rename(models_dir / "encoder-digits")
    ck = read_checkpoint("encoder-digits")
    assert ck.shipped and ck.path == ckpt.shipped_models_dir() / "encoder-digits" and ck.state["step"] == 9_390
    assert [(i.name, i.shipped) for i in list_checkpoints()] == [("decoder-0-99", True), ("encoder-digits", True),
                                                                 ("nested-0-99", True),
                                                                 ("nested-digits", True)]
    assert read_checkpoint("encoder-digits", models_dir).state["step"] == 2  # still readable by its folder


def test_user_models_go_to_the_platformdirs_data_dir_when_llmlearn_models_is_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import platformdirs

    calls: list[tuple[object, ...]] = []

    def user_data_dir(*args: object, **kwargs: object) -> str:
        calls.append((*args, *kwargs.values()))
        return str(tmp_path / "data")

    monkeypatch.delenv("LLMLEARN_MODELS", raising=False)
    monkeypatch.delenv("LLMLEARN_DATA", raising=False)
    monkeypatch.setattr(platformdirs, "user_data_dir", user_data_dir)
    assert ckpt.user_models_dir() == ckpt.default_models_dir() == tmp_path / "data" / "models"
    assert calls and calls[0][0] == "llmlearn-workbench"
    path = save_checkpoint(_trained(2), "mine")
    assert path == tmp_path / "data" / "models" / "mine"
    assert read_checkpoint("mine").state["step"] == 2 and not read_checkpoint("mine").shipped
    assert [(i.name, i.shipped) for i in list_checkpoints()] == [("mine", False), ("decoder-0-99", True),
                                                                 ("encoder-digits", True), ("nested-0-99", True),
                                                                 ("nested-digits", True)]
    monkeypatch.setenv("LLMLEARN_DATA", str(tmp_path / "other"))  # replaces the whole data dir
    assert ckpt.user_models_dir() == tmp_path / "other" / "models"
    monkeypatch.setenv("LLMLEARN_MODELS", str(tmp_path / "models"))  # replaces the models folder only
    assert ckpt.user_models_dir() == tmp_path / "models"
