"""Training-health figures: their values are what they claim, and their verdicts follow the bands."""

from __future__ import annotations

import numpy as np

from core.data.dataset import DatasetConfig
from core.probe.health import dead_units, gradient_spikes, training_health, update_ratios
from core.train.run import Run, RunConfig

CONFIG = RunConfig.create(DatasetConfig(n_train=320, n_val=64, n_test=64), epochs=2, d_model=16, n_layers=2,
                          n_heads=2, d_ff=32)


def test_update_ratio_is_the_last_steps_change_over_the_weights() -> None:
    run = Run(CONFIG)
    assert update_ratios(run.model, run.trainer.optimizer) == []  # no step yet: nothing to say
    before = run.model.params.state_dict()
    run.train_step()
    figures = {f.name: f for f in update_ratios(run.model, run.trainer.optimizer)}
    after = run.model.params.state_dict()
    name = "blocks.0.ffn.fc1.w"
    expected = np.linalg.norm(after[name] - before[name]) / np.linalg.norm(after[name])
    assert abs(figures[name].value - expected) < 1e-5 * expected  # Adam at lr 1e-3, no weight decay
    assert figures[name].verdict in ("ok", "high") and set(figures) == set(before)


def test_dead_units_are_the_units_that_never_fire() -> None:
    run = Run(CONFIG)
    assert run.val_split is not None
    layer0 = run.model.params["blocks.0.ffn.fc1.b"]
    layer0.value[:16] = -1e3  # half of layer 0's units can never fire
    (first, second) = dead_units(run.model, run.val_split)
    assert first.value >= 0.5 and "never fire" in first.reason
    assert second.value < 0.5 and second.verdict == "ok"


def test_gradient_spikes_are_counted_and_everything_is_reported_together() -> None:
    steps = list(range(1, 301))
    grad = [1.0] * 300
    grad[100] = grad[200] = 40.0
    spikes = gradient_spikes({"grad_norm": (steps, grad)})
    assert spikes.value == 2 and "step 201" in spikes.reason
    run = Run(CONFIG)
    run.train_step()
    names = [f.name for f in training_health(run.model, run.trainer.optimizer, run.val_split, {})]
    assert names[-1] == "gradient-norm spikes" and "layer 1 dead FFN units" in names


def test_tiny_updates_at_the_end_of_a_decayed_schedule_are_not_flagged_as_stopped_learning() -> None:
    """At the end of a cosine schedule (lr 6.7e-10) every parameter was flagged "barely moves: stopped
    learning"; the schedule explains it."""
    run = Run(CONFIG)
    run.train_step()
    optimizer = run.trainer.optimizer
    optimizer.lr = 1e-9  # what the schedule gives at its end; the last update was at 1e-3, so scale it
    update = optimizer.last_update()
    update *= 1e-6
    low = [f for f in update_ratios(run.model, optimizer) if f.verdict == "low"]
    assert low and "stopped learning" in low[0].reason  # without the schedule's base: flagged
    figures = update_ratios(run.model, optimizer, base_lr=1e-3)
    assert not [f for f in figures if f.verdict == "low"]
    assert all("schedule has brought the lr down to 1e-09 (0.0% of 0.001)" in f.reason
               for f in figures if f.value < 1e-5)
