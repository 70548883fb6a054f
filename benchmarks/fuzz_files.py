"""Fuzz the two inputs a user (or a file someone handed them) controls: typed expressions and checkpoints.

    python -m benchmarks.fuzz_files --expressions 100000 --mutations 2000

1. ``--expressions`` random and mutated strings through ``core.data.expression.parse_expression`` (with
   and without a task), and a sample of them through ``workbench predict`` (``workbench.cli.main``):
   every failure must be an ``LLMLearnError`` (the CLI: an ``error:`` line and exit code 2, never a
   traceback).
2. ``--mutations`` random byte-level mutations (flips, overwrites, insertions, deletions, truncations,
   duplicated chunks) of one of a real checkpoint's three files, half of them with every checksum
   re-computed afterwards (so the parsers and field checks are reached, not only the checksums), each
   read with ``read_checkpoint_dir`` and built with ``build_run``: every failure must be a
   ``CheckpointError``.

Prints the counts, and the first few unexpected exceptions with their type. Deterministic per ``--seed``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

from safetensors.numpy import load, save

from core.data.dataset import DatasetConfig
from core.data.expression import parse_expression
from core.data.task import TaskConfig
from core.errors import CheckpointError, LLMLearnError
from core.optim.config import OptimizerConfig
from core.train.checkpoint import format as ckpt_format
from core.train.checkpoint import read_checkpoint_dir, save_checkpoint
from core.train.run import Run, RunConfig

OPS = ("First", "Second", "Last", "Max", "Min", "max", "MIN", "Sum", "")
PIECES = ("(", ")", ",", " ", "  ", "\t", "0", "7", "9", "10", "99", "100", "-1", "007", "1e3", "٣", "𝟗", "\u200b",
          "\x00", "\n", "(((", ")))", ",,", "=", "[EOS]", "[PAD]", "9" * 50, "é", "\ud800")
VALID = ("Max(3, 7, 2)", "First(1, 2, 3)", "Min(Max(1, 2), 3)", "Last(9, 8, 7, 6, 5)", "second(4,5)",
         "Max(Min(1, 2, 3), Max(4, Min(5, 6)), 7)")


def _random_expression(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.4:  # a valid one, mutated
        chars = list(rng.choice(VALID))
        for _ in range(rng.randint(1, 4)):
            where = rng.randrange(len(chars) + 1)
            action = rng.random()
            if action < 0.4 and chars:
                del chars[min(where, len(chars) - 1)]
            elif action < 0.8:
                chars.insert(where, rng.choice(PIECES))
            else:
                chars.insert(where, chr(rng.randrange(1, 0x3000)))
        return "".join(chars)
    if kind < 0.8:  # tokens glued at random
        return "".join(rng.choice(OPS + PIECES) for _ in range(rng.randint(0, 30)))
    if kind < 0.95:  # deep or long
        depth = rng.randint(1, 3000)
        return "Max(" * depth + "1, 2" + ")" * rng.randint(0, depth)
    return "".join(chr(rng.randrange(0, 0x110000)) for _ in range(rng.randint(0, 200)))


def fuzz_expressions(n: int, seed: int, predict_sample: int) -> tuple[Counter[str], list[str]]:
    rng = random.Random(seed)
    task = TaskConfig()
    counts: Counter[str] = Counter()
    unexpected: list[str] = []
    from workbench.cli import main  # the CLI's predict path, on the shipped encoder

    for i in range(n):
        text = _random_expression(rng)
        for t in (None, task):
            try:
                parse_expression(text, t)
                counts["parsed"] += 1
            except LLMLearnError:
                counts["LLMLearnError"] += 1
            except Exception as exc:
                counts[f"unexpected {type(exc).__name__}"] += 1
                unexpected.append(f"parse_expression({text[:60]!r}): {type(exc).__name__}: {exc}")
        if i < predict_sample:
            out, err = io.StringIO(), io.StringIO()
            try:
                code = main(["predict", "encoder-digits", "--", text], stdout=out, stderr=err)
                counts[f"predict exit {code}"] += 1
                if "Traceback" in err.getvalue():
                    counts["predict traceback"] += 1
            except Exception as exc:
                counts[f"predict unexpected {type(exc).__name__}"] += 1
                unexpected.append(f"predict {text[:60]!r}: {type(exc).__name__}: {exc}")
    return counts, unexpected


# -- checkpoints -------------------------------------------------------------------------------------------
def _mutate(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        action = rng.randrange(6)
        where = rng.randrange(len(b) + 1) if b else 0
        if action == 0 and b:  # flip a bit
            b[min(where, len(b) - 1)] ^= 1 << rng.randrange(8)
        elif action == 1 and b:  # overwrite with an interesting byte
            b[min(where, len(b) - 1)] = rng.choice(b'{}[]",:0123456789-eE.\\ntfn\x00\xff')
        elif action == 2:  # insert
            b[where:where] = rng.choice([b"[", b"{", b"9" * rng.randint(1, 5000), b"NaN", b"1e999", b'"', b"\xff",
                                         b"[" * rng.randint(1, 100_000), b"-", b"null", b"true"])
        elif action == 3 and b:  # delete a run
            del b[where : where + rng.randint(1, 64)]
        elif action == 4:  # truncate
            del b[rng.randrange(len(b) + 1) if b else 0 :]
        elif action == 5 and b:  # duplicate a chunk
            start = rng.randrange(len(b))
            b[where:where] = b[start : start + rng.randint(1, 256)]
    return bytes(b)


def _resign(path: Path) -> None:
    """Re-compute every checksum of ``path`` for what its files now hold (as far as config.json parses)."""
    try:
        cfg = json.loads((path / "config.json").read_bytes())
        if not isinstance(cfg, dict):
            return
        history = (path / "history.jsonl").read_bytes()
        cfg["history"] = {"file": "history.jsonl", "sha256": ckpt_format.sha256(history), "bytes": len(history)}
        without = {k: v for k, v in cfg.items() if k != "weights"}
        blob = (path / "weights.safetensors").read_bytes()
        with contextlib.suppress(Exception):  # a mutated weights file safetensors cannot parse stays as it is
            blob = save(load(blob), metadata={"format": ckpt_format.FORMAT,
                                              "config_sha256": ckpt_format.sha256(ckpt_format.canonical(without))})
        (path / "weights.safetensors").write_bytes(blob)
        cfg["weights"] = {"file": "weights.safetensors", "sha256": ckpt_format.sha256(blob), "bytes": len(blob)}
        (path / "config.json").write_text(json.dumps(cfg))
    except (ValueError, RecursionError, TypeError, OverflowError):  # the forger's own json cannot: leave it
        return


def fuzz_checkpoints(n: int, seed: int) -> tuple[Counter[str], list[str]]:
    rng = random.Random(seed)
    counts: Counter[str] = Counter()
    unexpected: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "models"
        data = DatasetConfig(TaskConfig(), n_train=64, n_val=16, n_test=16)
        run = Run(RunConfig.create(data, d_model=16, n_layers=1, n_heads=2, d_ff=32,
                                   optimizer=OptimizerConfig(batch_size=16)))
        for _ in range(3):
            run.train_step()
        history = [{"series": "loss", "steps": [1, 2, 3], "values": [2.0, 1.9, 1.8], "stride": 1},
                   {"mark": "lr=0.001", "step": 2}]
        original = save_checkpoint(run, "original", root, history=history, metrics={"test_accuracy": 0.5})
        files = ("config.json", "weights.safetensors", "history.jsonl")
        for i in range(n):
            target = root / "fuzzed"
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(original, target)
            name = rng.choice(files)
            (target / name).write_bytes(_mutate((target / name).read_bytes(), rng))
            resigned = i % 2 == 1
            if resigned:
                _resign(target)
            try:
                ck = read_checkpoint_dir(target)
                ck.build_run()
                counts["read and built"] += 1
            except CheckpointError:
                counts[f"CheckpointError ({'re-signed' if resigned else 'raw'})"] += 1
            except Exception as exc:
                counts[f"unexpected {type(exc).__name__}"] += 1
                unexpected.append(f"{name} ({'re-signed' if resigned else 'raw'}): {type(exc).__name__}: {exc}\n"
                                  + traceback.format_exc(limit=-3))
    return counts, unexpected


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--expressions", type=int, default=100_000)
    p.add_argument("--predict-sample", type=int, default=300, help="how many of them also go through predict")
    p.add_argument("--mutations", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    bad = 0
    for title, job in (("expressions", lambda: fuzz_expressions(a.expressions, a.seed, a.predict_sample)),
                       ("checkpoint mutations", lambda: fuzz_checkpoints(a.mutations, a.seed))):
        t0 = time.perf_counter()
        counts, unexpected = job()
        print(f"{title}: {dict(sorted(counts.items()))}  ({time.perf_counter() - t0:.1f} s)")
        unexpected_total = sum(v for k, v in counts.items() if "unexpected" in k or "traceback" in k)
        print(f"  exceptions that are not the project's own errors: {unexpected_total}")
        for line in unexpected[:5]:
            print("   ", line.replace("\n", "\n    "))
        bad += unexpected_total
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
