"""Dynamics annotations: each detector fires on its pattern, at the step it starts, and not on a calm run."""

from __future__ import annotations

import math

from core.train.dynamics import detect_events


def _grokking_like() -> dict[str, tuple[list[int], list[float]]]:
    steps = list(range(1, 3001))
    train_acc = [min(1.0, s / 300) for s in steps]
    val_steps = list(range(100, 3001, 100))
    val_acc = [0.2 if s < 2000 else min(0.99, 0.2 + (s - 2000) / 300) for s in val_steps]
    return {"train/accuracy": (steps, train_acc), "val/accuracy": (val_steps, val_acc),
            "train/loss": (steps, [math.exp(-s / 200) + 1e-4 for s in steps]), "lr": (steps, [1e-3] * 3000),
            "grad_norm": (steps, [1.0] * 3000)}


def test_grokking_is_annotated_memorising_then_generalising() -> None:
    events = detect_events(_grokking_like())
    kinds = [(e.kind, e.step) for e in events]
    assert [k for k, _ in kinds] == ["memorising", "generalising"]
    memorising, generalising = events
    assert 300 <= memorising.step <= 400 and "memorising" in memorising.text
    assert 2000 <= generalising.step <= 2100 and "20% →" in generalising.text


def test_a_calm_run_has_no_events() -> None:
    steps = list(range(1, 501))
    calm = {"train/loss": (steps, [1.0 / s for s in steps]), "train/accuracy": (steps, [0.5] * 500),
            "val/accuracy": ([100, 200, 300], [0.5, 0.52, 0.55]), "lr": (steps, [1e-3] * 500),
            "grad_norm": (steps, [1.0 + 0.1 * math.sin(s) for s in steps])}
    assert detect_events(calm) == []


def test_spikes_and_a_rising_loss_are_found() -> None:
    steps = list(range(1, 301))
    loss = [1.0] * 300
    loss[150] = 8.0
    grad = [1.0] * 300
    grad[200] = 50.0
    events = detect_events({"train/loss": (steps, loss), "grad_norm": (steps, grad), "lr": (steps, [0.1] * 300)})
    assert [(e.kind, e.step) for e in events] == [("loss spike", 151), ("gradient spike", 201)]
    rising = [1.0 + s / 50 for s in steps]
    (event,) = detect_events({"train/loss": (steps, rising), "lr": (steps, [1.0] * 300)})
    assert event.kind == "lr too high" and "too high" in event.text
    scheduled = {"train/loss": (steps, rising), "lr": (steps, [1.0 + s for s in steps])}
    assert detect_events(scheduled) == []  # the lr changed: a schedule explains the rise


def test_a_head_whose_attention_entropy_falls_is_specialising() -> None:
    steps = [100, 200, 300, 400, 500]
    events = detect_events({"attn_entropy/0.2": (steps, [2.0, 1.95, 1.9, 0.7, 0.6]),
                            "attn_entropy/0.1": (steps, [2.0, 1.9, 1.8, 1.7, 1.6])})
    assert [(e.kind, e.step) for e in events] == [("specialising", 400)] and "head 0.2" in events[0].text


def test_attention_entropy_is_log_t_for_uniform_attention_and_is_recorded_at_every_evaluation() -> None:
    from core.data.dataset import DatasetConfig
    from core.train.attention_stats import attention_entropy
    from core.train.run import Run, RunConfig
    from core.train.session import TrainingSession

    run = Run(RunConfig.create(DatasetConfig(n_train=320, n_val=64, n_test=64), epochs=2, d_model=16,
                               n_layers=1, n_heads=2, d_ff=32, eval_every=5))
    assert run.val_split is not None
    for p in run.model.params:  # zero queries and keys: every score 0, every row uniform over its T keys
        if ".attn.q" in p.name or ".attn.k" in p.name or "qkv" in p.name:
            p.value[...] = 0.0
    entropy = attention_entropy(run.model, run.val_split)
    t = run.val_split.lengths[0]
    assert set(entropy) == {"attn_entropy/0.0", "attn_entropy/0.1"}
    assert all(abs(v - math.log(t)) < 1e-5 for v in entropy.values())  # every row has the same length here
    session = TrainingSession(Run(run.config))
    session.start_thread()
    session.step(10)
    session.settle()
    assert session.close()
    assert session.history.points("attn_entropy/0.1")[0] == [0, 5, 10]  # before the first step too
    assert session.history.points("weight_norm")[0] == [0, 5, 10]
    assert session.history.points("val/accuracy")[0] == [5, 10]  # a full evaluation only every eval_every


def test_a_decoders_attention_entropy_is_taken_at_its_answer_positions_only() -> None:
    """With zero queries and keys a causal head is uniform over the q + 1 keys it may see, so row q's
    entropy is log(q + 1): the mean must be over the "=" and answer positions, not the prompt's."""
    from core.data.dataset import DatasetConfig
    from core.train.attention_stats import attention_entropy
    from core.train.run import Run, RunConfig

    run = Run(RunConfig.create(DatasetConfig(n_train=320, n_val=64, n_test=64), kind="decoder", d_model=16,
                               n_layers=1, n_heads=2, d_ff=32))
    split = run.val_split
    assert split is not None
    for p in run.model.params:
        if ".attn.q" in p.name or ".attn.k" in p.name or "qkv" in p.name:
            p.value[...] = 0.0
    expected = [math.log(q + 1) for i in range(len(split))
                for q in range(int(split.prompt_lengths[i]) - 1, int(split.lengths[i]) - 1)]
    entropy = attention_entropy(run.model, split, sample=len(split))
    assert all(abs(v - sum(expected) / len(expected)) < 1e-5 for v in entropy.values())
    everywhere = [math.log(q + 1) for i in range(len(split)) for q in range(int(split.lengths[i]) - 1)]
    assert abs(sum(everywhere) / len(everywhere) - sum(expected) / len(expected)) > 0.3  # the test can tell


def test_weights_shrinking_after_memorising_is_marked() -> None:
    steps = list(range(1, 1001))
    evals = list(range(100, 1001, 100))
    norm = [10.0, 12.0, 12.5, 12.0, 11.0, 10.5, 9.9, 9.5, 9.0, 8.8]  # peak 12.5 at step 300; 9.9 ≤ 80% of it
    events = detect_events({"weight_norm": (evals, norm), "train/accuracy": (steps, [1.0] * 1000)})
    assert [(e.kind, e.step) for e in events] == [("weights shrink", 700)]
    assert "12.5 → 9.9 since step 300" in events[0].text


def test_weights_shrinking_counts_from_the_memorised_solution_not_from_the_random_start() -> None:
    """With strong weight decay the norm falls from step 0 (the initial weights, measured before the
    first step); only a fall from its level once training accuracy is high is the memorised solution
    wearing down."""
    steps = list(range(1, 1001))
    evals = [0, 100, 200, 300, 400, 500, 600]
    norm = [50.0, 45.0, 40.0, 39.0, 37.0, 31.5, 30.0]  # 40 at step 200, once training accuracy is high
    train = [0.5 if s < 150 else 1.0 for s in steps]
    events = detect_events({"weight_norm": (evals, norm), "train/accuracy": (steps, train)})
    assert [(e.kind, e.step) for e in events] == [("weights shrink", 500)]  # 31.5 ≤ 80% of 40; 40 is already 80% of 50
    assert "since step 200" in events[0].text


def _climb_fall_and_back() -> dict[str, tuple[list[int], list[float]]]:
    """A grokking run after its climb, as lr 2e-3 gives it: validation at 97%, knocked down to 8% by a
    large update, climbing back within a few hundred steps; training accuracy high throughout."""
    val_steps = list(range(100, 2101, 100))
    val = [0.2, 0.2, 0.4, 0.7, 0.9, 0.97, 0.97, 0.97, 0.5, 0.08, 0.08, 0.3, 0.6, 0.9, 0.96, 0.97, 0.97, 0.97,
           0.97, 0.97, 0.97]
    steps = list(range(1, 2101))
    return {"val/accuracy": (val_steps, val), "train/accuracy": (steps, [1.0] * 2100)}


def test_a_fall_of_validation_and_the_climb_back_are_named_and_never_merged_into_one_climb() -> None:
    events = detect_events(_climb_fall_and_back())
    assert [(e.kind, e.step) for e in events] == [("memorising", 100), ("generalising", 300), ("falling", 1000),
                                                  ("recovering", 1200)]
    _, generalising, falling, recovering = events
    assert "20% → 97% by step 600" in generalising.text
    assert "97% → 8% by step 1,000" in falling.text
    assert "8% → 97% by step 1,600" in recovering.text and "was 97% at step 600" in recovering.text


def test_every_climb_reported_goes_up() -> None:
    """A climb, a fall below where it began, and a smaller climb a few evaluations later were merged
    into one event that read "climbs 75% → 35%"."""
    val_steps = list(range(100, 1601, 100))
    val = [0.55, 0.6, 0.75, 0.75, 0.8, 0.95, 0.9, 0.5, 0.2, 0.2, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4]
    steps = list(range(1, 1601))
    events = detect_events({"val/accuracy": (val_steps, val), "train/accuracy": (steps, [1.0] * 1600)})
    climbs = [e for e in events if e.kind in ("generalising", "recovering")]
    assert len(climbs) == 2
    for e in climbs:
        start, end = (float(x.rstrip("%")) for x in e.text.split("climbs ")[1].removeprefix("back ").split(" by")[0]
                      .split(" → "))
        assert end > start, e.text


def test_repeated_falls_and_recoveries_are_one_line_each_in_the_summary() -> None:
    from core.train.dynamics import summary_lines

    series = _climb_fall_and_back()
    steps, val = series["val/accuracy"]
    twice = {"val/accuracy": ([*steps, *(s + 2100 for s in steps[8:])], [*val, *val[8:]]),
             "train/accuracy": (list(range(1, 4201)), [1.0] * 4200)}
    kinds = [e.kind for e in detect_events(twice)]
    assert kinds.count("falling") == 2 and kinds.count("recovering") == 2
    lines = summary_lines(detect_events(twice))
    assert lines[0].startswith("step 100 memorising") and lines[1].startswith("step 300 generalising")
    assert lines[2].startswith("2 falls of validation accuracy (steps 1,000–3,100); the latest: validation accuracy "
                               "fell 97% → 8%")
    assert lines[3].startswith("2 recoveries (steps 1,200–3,300); the latest: validation accuracy climbs back")
    assert len(lines) == 4


def test_heads_specialising_together_are_one_summary_line() -> None:
    from core.train.dynamics import summary_lines

    steps = [0, 100, 200]
    events = detect_events({f"attn_entropy/0.{h}": (steps, [2.0, 0.6 + h / 10, 0.5]) for h in range(4)})
    assert [e.kind for e in events] == ["specialising"] * 4
    (line,) = summary_lines(events)
    assert line.startswith("4 heads specialising (step 100); the latest: head 0.3's attention entropy fell")


def test_the_charts_mark_the_phases_first_and_fill_the_rest_with_the_latest_falls_and_recoveries() -> None:
    from core.train.dynamics import DynamicsEvent, marked_steps

    events = [DynamicsEvent(180, "memorising", ""), DynamicsEvent(500, "generalising", ""),
              *(DynamicsEvent(1000 * n + d, kind, "") for n in range(1, 13)
                for d, kind in ((0, "falling"), (100, "recovering"), (5, "loss spike")))]
    marks = marked_steps(sorted(events, key=lambda e: e.step), 8)
    assert marks == [180, 500, 10000, 10100, 11000, 11100, 12000, 12100]
    assert marked_steps(events, 1) == [500] and marked_steps(events, 0) == []


def test_a_recovery_names_the_level_it_fell_from_not_the_best_ever() -> None:
    """"fell 96% → 77%" then "climbs back … (it was 98% at step 500)" read as a contradiction."""
    val_steps = list(range(100, 3101, 100))
    val = [0.2, 0.5, 0.8, 0.98, 0.98, *([0.95] * 15), 0.96, 0.6, 0.3, 0.3, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95]
    events = detect_events({"val/accuracy": (val_steps, val), "train/accuracy": (list(range(1, 3101)), [1.0] * 3100)})
    (recovering,) = [e for e in events if e.kind == "recovering"]
    assert "30% → 95%" in recovering.text and "(it was 96% at step 2,100 before it fell)" in recovering.text
    (falling,) = [e for e in events if e.kind == "falling"]
    assert "96% → 30%" in falling.text
    (generalising,) = [e for e in events if e.kind == "generalising"]
    assert generalising.text.count("generalising") == 0  # the kind says it; the text says what it means


def test_the_events_line_counts_loss_and_gradient_spikes_apart() -> None:
    """It said "31 spikes" where the health view said "gradient-norm spikes: 16"."""
    from workbench.widgets.chart_panel import spike_counts

    assert spike_counts({"loss spike": 15, "gradient spike": 16}) == "15 loss and 16 gradient spikes"
    assert spike_counts({"loss spike": 1, "gradient spike": 0}) == "1 loss spike"
    assert spike_counts({"loss spike": 0, "gradient spike": 3}) == "3 gradient spikes"
    assert spike_counts({"loss spike": 0, "gradient spike": 0}) == ""
