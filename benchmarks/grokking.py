"""The grokking preset, trained as the app and the CLI train it: prints its phases and how long they took.

    python -m benchmarks.grokking [--seed N] [--json PATH]

Trains ``--preset grokking`` (modular addition a + b mod p, 40% of all pairs to train on, full batch,
AdamW with weight decay 1.0) with one BLAS thread, evaluating train and validation accuracy every 100
steps, and reports:

  memorised     the first step where train accuracy ≥ 99% — and validation accuracy at that step;
  still low     the last step where train accuracy ≥ 99% while validation accuracy is < 50%;
  generalised   the first step where validation accuracy ≥ 95%;

with wall-clock seconds for each. Prints numbers and asserts nothing except, at the end, exit status 1 if
validation never reached 95% within the preset's steps (so a regression is visible in a script).
"""

from __future__ import annotations

import argparse
import json
import time

from core.process import tune_for_training
from core.train.presets import preset
from core.train.run import Run


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="PATH")
    a = p.parse_args()
    tune_for_training(1)
    config = preset("grokking").run_config({"seed": a.seed})
    run = Run(config)
    print(f"{config.dataset.task.describe()}: {config.dataset.n_train} training pairs, "
          f"{config.dataset.n_val} validation, {run.model.num_parameters:,} parameters, "
          f"{run.total_steps:,} steps at most")
    t0 = time.perf_counter()
    memorised: tuple[int, float, float] | None = None
    still_low: tuple[int, float, float] | None = None
    generalised: tuple[int, float, float] | None = None
    curve: list[tuple[int, float, float, float]] = []
    while not run.finished:
        run.train_step()
        if run.step % 100:
            continue
        train, val = run.evaluate("train"), run.evaluate("val")
        assert train is not None and val is not None
        now = time.perf_counter() - t0
        curve.append((run.step, round(now, 1), train.accuracy, val.accuracy))
        if run.step % 1000 == 0:
            print(f"  step {run.step:>6,}  {now:6.1f} s  train {train.accuracy:6.1%}  val {val.accuracy:6.1%}",
                  flush=True)
        if memorised is None and train.accuracy >= 0.99:
            memorised = (run.step, now, val.accuracy)
        if train.accuracy >= 0.99 and val.accuracy < 0.5:
            still_low = (run.step, now, val.accuracy)
        if val.accuracy >= 0.95:
            generalised = (run.step, now, val.accuracy)
            break
    for label, point in (("memorised (train ≥ 99%)", memorised), ("last step val < 50%", still_low),
                         ("generalised (val ≥ 95%)", generalised)):
        print(f"{label:>24}: " + (f"step {point[0]:,} at {point[1]:.1f} s (val {point[2]:.1%})" if point else "never"))
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump({"memorised": memorised, "still_low": still_low, "generalised": generalised,
                       "curve": curve}, f)
    return 0 if generalised else 1


if __name__ == "__main__":
    raise SystemExit(main())
