"""Checkpoint saves under contention: prints counts, asserts nothing.

Run:  python -m benchmarks.save_trials [--concurrent 12] [--kills 100] [--readers 6] [--seed 0]

  1. concurrent: two real ``workbench train --out K --force`` (tiny options, a few seconds each) started
     at once, in a fresh models folder per trial. Counted: tracebacks, failed saves, lost runs. A trial
     loses a run unless each process either saved (exit 0) or printed one clear ``error: …`` line (exit
     1; a raw ``[Errno …]`` is not clear), and K then reads back and is the final state (seed, step,
     training time) of a process that saved.
  2. kills: a forked process saves K in a loop (one training step between saves) and is killed with
     SIGKILL at a random moment; then K is read back. Counted: corrupted checkpoints (K does not read
     back), and how many kills hit a save half-done (a staging or ``.K.old`` folder left behind).
  3. readers: a forked process saves K and is stopped mid-save (alternately while writing the files and
     just after the previous checkpoint was moved to ``.K.old``); a real ``workbench predict K`` runs
     to its end meanwhile, then the save resumes. Counted: writer failures, predict failures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from core.errors import CheckpointError
from core.train.checkpoint import read_checkpoint, save_checkpoint
from core.train.checkpoint import writer as ckpt_writer
from core.train.options import build_run_config
from core.train.run import Run

TINY = ["--n-train", "320", "--n-val", "64", "--n-test", "64", "--d-model", "16", "--layers", "1",
        "--heads", "2", "--d-ff", "32", "--epochs", "1", "--eval-every", "5"]
WORKBENCH = [sys.executable, "-m", "workbench"]
CTX = multiprocessing.get_context("fork")


def _env(models: Path) -> dict[str, str]:
    return {**os.environ, "LLMLEARN_MODELS": str(models), "PYTHONUNBUFFERED": "1"}


def concurrent_trial(models: Path, extra: list[str]) -> tuple[int, int, bool, list[str]]:
    """(tracebacks, failed saves, run lost?, one line per process) for two trainings of K started at once."""
    procs = [subprocess.Popen([*WORKBENCH, "train", *TINY, "--seed", str(seed), "--out", "K", "--force", "--json",
                               *extra], env=_env(models), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for seed in (1, 2)]
    outcomes = [(p.wait(), *p.communicate()) for p in procs]
    tracebacks, failed, lost, lines = 0, 0, False, []
    saved: list[dict[str, Any]] = []
    for seed, (code, out, err) in zip((1, 2), outcomes, strict=True):
        tracebacks += "Traceback" in err
        errors = [line for line in err.splitlines() if line.startswith("error: ")]
        if code == 0 and out.strip():
            summary = json.loads(out.strip().splitlines()[-1])
            saved.append({**summary, "seed": seed})
            lines.append(f"seed {seed}: saved step {summary['steps']}")
        elif code == 1 and len(errors) == 1 and "Traceback" not in err and "[Errno" not in errors[0]:
            failed += 1
            lines.append(f"seed {seed}: {errors[0]}")
        else:  # no clear line (a traceback, a raw OSError) counts as a lost run
            failed += 1
            lost = True
            lines.append(f"seed {seed}: exit {code}, {err.strip().splitlines()[-1:] or 'no message'}")
    try:
        ck = read_checkpoint("K", models)
        final = (ck.config.seed, int(ck.state["step"]), ck.metrics.get("train_seconds"))
        lost |= final not in [(s["seed"], s["steps"], s["train_seconds"]) for s in saved]
    except CheckpointError as exc:
        lost = True
        lines.append(f"K: {exc}")
    return tracebacks, failed, lost, lines


def _tiny_run() -> Run:
    """The same tiny run as the trainings above, from the same option names (``--d-model 16`` → d_model)."""
    flags = {"layers": "n_layers", "heads": "n_heads"}
    values = {flags.get(k := f.lstrip("-").replace("-", "_"), k): int(v) for f, v in zip(TINY[::2], TINY[1::2],
                                                                                        strict=True)}
    return Run(build_run_config(values))


def _save_loop(models: str, ready: Event) -> None:
    run = _run_for_children
    while True:
        run.train_step()
        save_checkpoint(run, "K", models)
        ready.set()


def kill_trial(models: Path, rng: random.Random) -> tuple[bool, bool]:
    """(corrupted?, half-done save left behind?) after one SIGKILL at a random moment of a save loop."""
    ready = CTX.Event()
    proc = CTX.Process(target=_save_loop, args=(str(models), ready))
    proc.start()
    ready.wait(60)  # K exists: from now on every moment is inside a save or one training step
    time.sleep(rng.uniform(0.0, 0.05))
    os.kill(proc.pid or 0, signal.SIGKILL)
    proc.join()
    half_done = any(p.name.startswith((".K.saving", ".K.old")) for p in models.iterdir())
    try:
        read_checkpoint("K", models)
    except CheckpointError:
        return True, half_done
    return False, half_done


def _paused_save(models: str, point: str, holding: Event, release: Event) -> None:
    real_write, real_rename = ckpt_writer._write_bytes, os.rename

    def write(path: Path, data: bytes) -> None:
        real_write(path, data)
        holding.set()
        release.wait(60)

    def rename(src: Any, dst: Any) -> None:
        real_rename(src, dst)
        if Path(dst).name == ".K.old":
            holding.set()
            release.wait(60)

    if point == "write":
        ckpt_writer._write_bytes = write
    else:
        os.rename = rename  # type: ignore[assignment]
    run = _run_for_children
    run.train_step()
    save_checkpoint(run, "K", models)


def reader_trial(models: Path, point: str) -> tuple[bool, bool, str]:
    """(writer failed?, predict failed?, predict's answer line) for one predict during a paused save."""
    save_checkpoint(_run_for_children, "K", models)
    holding, release = CTX.Event(), CTX.Event()
    proc = CTX.Process(target=_paused_save, args=(str(models), point, holding, release))
    proc.start()
    holding.wait(60)
    pred = subprocess.run([*WORKBENCH, "predict", "K", "First(1,2,3)"], env=_env(models), capture_output=True,
                          text=True, timeout=120)
    release.set()
    proc.join(60)
    writer_failed = proc.exitcode != 0
    try:
        writer_failed |= int(read_checkpoint("K", models).state["step"]) != _run_for_children.step + 1
    except CheckpointError:
        writer_failed = True
    answer = (pred.stdout.strip() or pred.stderr.strip()).splitlines()[-1:] or [""]
    return writer_failed, pred.returncode != 0, answer[0]


_run_for_children: Run  # built once in the parent; forked children start from it (no re-import)


def main() -> None:
    global _run_for_children
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--concurrent", type=int, default=12, help="trials of two trainings at once")
    ap.add_argument("--kills", type=int, default=100, help="SIGKILLs of a save loop")
    ap.add_argument("--readers", type=int, default=6, help="predicts during a paused save")
    ap.add_argument("--save-every-steps", type=int, default=0,
                    help="also pass this to both trainings (more saves contending)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    _run_for_children = _tiny_run()
    work = Path(tempfile.mkdtemp(prefix="save-trials-"))
    extra = ["--save-every-steps", str(a.save_every_steps)] if a.save_every_steps else []
    try:
        if a.concurrent:
            t0, tracebacks, failed, lost = time.monotonic(), 0, 0, 0
            for i in range(a.concurrent):
                tb, fails, was_lost, lines = concurrent_trial(work / f"c{i}", extra)
                tracebacks, failed, lost = tracebacks + tb, failed + fails, lost + was_lost
                print(f"  trial {i + 1}: {'LOST' if was_lost else 'ok'}; " + "; ".join(lines), flush=True)
            print(f"1. concurrent: {a.concurrent} trials of two `workbench train --out K` at once: "
                  f"{tracebacks} tracebacks, {failed} of {2 * a.concurrent} saves failed, {lost} lost runs "
                  f"({time.monotonic() - t0:.0f} s)", flush=True)
        if a.kills:
            t0, corrupted, half = time.monotonic(), 0, 0
            models = work / "kills"
            for _ in range(a.kills):
                bad, half_done = kill_trial(models, rng)
                corrupted, half = corrupted + bad, half + half_done
            print(f"2. kills: {a.kills} SIGKILLs of a save loop ({half} mid-save): {corrupted} corrupted "
                  f"checkpoints ({time.monotonic() - t0:.0f} s)", flush=True)
        if a.readers:
            t0, writers, predicts = time.monotonic(), 0, 0
            for i in range(a.readers):
                point = ("write", "old-moved")[i % 2]
                w, p, answer = reader_trial(work / f"r{i}", point)
                writers, predicts = writers + w, predicts + p
                print(f"  trial {i + 1} (paused at {point}): writer {'FAILED' if w else 'ok'}, predict: {answer}",
                      flush=True)
            print(f"3. readers: {a.readers} `workbench predict K` during a paused save: {writers} writer failures, "
                  f"{predicts} predict failures ({time.monotonic() - t0:.0f} s)", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
