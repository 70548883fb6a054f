"""The Inspector pane: the parameter tree and each tensor's numbers, live snapshots (gradient norm,
update ratio), NaN-proof histograms and heatmaps, digit-embedding similarity, the on-demand gradient
check, and the evaluation views whose mistakes open in the Inference console."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from textual.widgets import DataTable, ProgressBar, Tree

from core.data.task import TaskConfig
from core.probe.inspection import tree_paths
from core.probe.param_stats import parameter_stats, snapshot_stats
from core.train.report import EvaluationReport
from core.train.run import Run
from core.train.session import TrainingSession
from tests.app_support import static_text
from tests.conftest import tiny_config
from tests.probe_app_support import BothHost, InspectorHost, inspector_idle, wait_until
from workbench.model_source import FixedModelSource, SessionModelSource
from workbench.panes.inference import InferencePane
from workbench.panes.inspector import InspectorPane
from workbench.render.evaluation import confusion_text


@pytest.fixture(autouse=True)
def real_models_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMLEARN_MODELS", raising=False)


def tiny_run(kind: str = "encoder", steps: int = 0) -> Run:
    run = Run(tiny_config(kind))
    for _ in range(steps):
        run.train_step()
    return run


def fixed_source(run: Run, label: str = "tiny") -> FixedModelSource:
    return FixedModelSource(run.model, run.config.dataset.task, label,
                            {"test": run.test_split, "val": run.val_split})  # type: ignore[dict-item]


def leaves(tree: Tree[str]) -> list[str]:
    out: list[str] = []
    stack = [tree.root]
    while stack:
        node = stack.pop()
        if node.data:
            out.append(node.data)
        stack.extend(reversed(node.children))
    return out


async def test_tree_lists_every_parameter_and_shows_its_numbers() -> None:
    run = tiny_run()
    app = InspectorHost(fixed_source(run))
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.pane
        await inspector_idle(pilot, pane)
        tree = app.query_one("#insp-tree", Tree)
        names = [p.name for p in run.model.params]
        assert leaves(tree) == names
        assert str(tree.root.label).startswith(f"model · {run.model.num_parameters:,} parameters")
        # blocks.0.attn.qkv.w sits under blocks › 0 › attn › qkv
        assert tree_paths([(n, ()) for n in names])["blocks"]["0"]["attn"]["qkv"]["w"][0] == "blocks.0.attn.qkv.w"
        # the first parameter is shown at once; moving the cursor with the keyboard shows the next ones
        assert pane.selected == "embed.weight"
        tree.focus()
        assert tree.cursor_node is not None and tree.cursor_node.data == "embed.weight"
        await pilot.press("down", "down", "down", "down")  # blocks, 0, ln1, gamma
        await inspector_idle(pilot, pane)
        assert pane.selected == names[1] and pane.param_view is not None and pane.param_view.name == names[1]

        pane.show_parameter("blocks.0.attn.qkv.w")
        await inspector_idle(pilot, pane)
        value = run.model.params["blocks.0.attn.qkv.w"].value
        s = parameter_stats(value)
        text = static_text(app, "#insp-param-stats")
        assert "blocks.0.attn.qkv.w" in text and f"shape {value.shape[0]}×{value.shape[1]}" in text
        for label, v in (("mean", s.mean), ("std", s.std), ("min", s.min), ("max", s.max), ("‖w‖", s.norm)):
            assert f"{label} {v:.4g}" in text
        assert "‖∇w‖ –" in text and "no gradient" in text  # a model copy has no gradients
        assert f"histogram of the values ({value.size:,} finite)" in static_text(app, "#insp-histogram")
        heat = static_text(app, "#insp-matrix")
        assert heat.startswith(f"heatmap {value.shape[0]}×{value.shape[1]} drawn as")
        assert tree.cursor_node is not None and tree.cursor_node.data == "blocks.0.attn.qkv.w"


async def test_live_session_snapshot_shows_gradient_norm_and_update_ratio() -> None:
    run = tiny_run(steps=3)
    session = TrainingSession(run)  # no worker thread: the run is idle at step 3
    app = InspectorHost(get_session=lambda: session)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.pane
        await inspector_idle(pilot, pane)
        pane.show_parameter("blocks.0.ffn.fc1.w")
        await inspector_idle(pilot, pane)
        expected = snapshot_stats(session.parameter("blocks.0.ffn.fc1.w"))
        assert math.isfinite(expected.grad_norm) and math.isfinite(expected.update_ratio)
        text = static_text(app, "#insp-param-stats")
        assert "live, step 3" in text
        assert f"‖∇w‖ {expected.grad_norm:.4g}" in text
        assert f"update/weight {expected.update_ratio:.2e}" in text
        assert "live run · step 3 · idle" in static_text(app, "#insp-status")


async def test_running_session_still_shows_snapshots_but_refuses_model_copies() -> None:
    run = Run(tiny_config(epochs=10_000))
    session = TrainingSession(run)
    session.start_thread()
    session.start()
    try:
        app = InspectorHost(SessionModelSource(lambda: session), get_session=lambda: session)
        async with app.run_test(size=(120, 40)) as pilot:
            pane = app.pane
            deadline = time.monotonic() + 10
            while session.state != "running" or run.step < 3:
                assert time.monotonic() < deadline, "the session did not start"
                await pilot.pause(0.05)
            await app.run_action("reload", pane)
            await wait_until(pilot, lambda: pane.idle, what="the live snapshot")
            assert pane.param_view is not None and pane.param_view.origin.startswith("live, step")
            # the gradient check needs a model copy: refused while training runs, with the reason
            await app.run_action("gradient_check", pane)
            await wait_until(pilot, lambda: pane.idle, what="the refusal")
            assert "training is running — pause it" in static_text(app, "#insp-gradcheck-status")
            assert app.is_running
    finally:
        assert session.close(timeout=5)


async def test_non_finite_weights_are_counted_not_drawn() -> None:
    run = tiny_run()
    w = run.model.params["blocks.0.ffn.fc1.w"].value
    w[0, 0], w[1, 1], w[2, 2] = np.nan, np.inf, -np.inf
    app = InspectorHost(fixed_source(run))
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.pane
        await inspector_idle(pilot, pane)
        pane.show_parameter("blocks.0.ffn.fc1.w")
        await inspector_idle(pilot, pane)
        assert "⚠ 3 NaN/inf values" in static_text(app, "#insp-param-stats")
        assert "3 NaN/inf left out" in static_text(app, "#insp-histogram")
        assert static_text(app, "#insp-matrix").startswith("heatmap 16×32")
        assert app.is_running


async def test_digit_embedding_similarity_grid() -> None:
    app = InspectorHost()
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.pane
        pane.pick("encoder-digits")
        await inspector_idle(pilot, pane)
        assert pane.embeddings is not None and pane.embeddings.matrix.shape == (10, 10)
        lines = static_text(app, "#insp-embeddings").splitlines()
        assert lines[1].split() == [str(d) for d in range(10)]
        for d in range(10):  # cos(e, e) = 1 on the diagonal
            assert lines[2 + d].split()[0] == str(d) and lines[2 + d].split()[1 + d] == "1"


async def test_gradient_check_on_a_tiny_model_passes_with_a_progress_bar() -> None:
    run = tiny_run(steps=5)
    app = InspectorHost(fixed_source(run))
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.pane
        await inspector_idle(pilot, pane)
        pane.gradcheck_elements = 6
        app.query_one("#insp-tree").focus()
        await pilot.press("g")  # the pane's key, shown in the footer
        await wait_until(pilot, lambda: pane.idle, timeout=60, what="the gradient check")
        report = pane.gradcheck
        assert report is not None and len(report.rows) == len(list(run.model.params))
        assert report.max_error <= 1e-6 and report.passed
        table = app.query_one("#insp-gradcheck-table", DataTable)
        assert table.row_count == len(report.rows) and table.display
        for row in report.rows:
            cells = table.get_row(row.name)
            assert cells[0] == row.name and float(cells[3]) <= 1e-6 and str(cells[4]) == "pass"
        assert static_text(app, "#insp-gradcheck-status").startswith("tiny: ✓ all tensors pass")  # names the model
        bar = app.query_one("#insp-gradcheck-progress", ProgressBar)
        assert bar.progress == bar.total == len(report.rows) and not bar.display


async def test_evaluation_views_and_a_mistake_opens_in_the_console() -> None:
    run = tiny_run(steps=10)  # barely trained: plenty of mistakes
    app = BothHost(fixed_source(run, "tiny encoder"))
    async with app.run_test(size=(120, 40)) as pilot:
        inspector = app.query_one(InspectorPane)
        await inspector_idle(pilot, inspector)
        await app.run_action("focus('insp-tree')")
        await pilot.press("e")
        await wait_until(pilot, lambda: inspector.idle and inspector.report is not None, what="the evaluation")
        report = inspector.report
        assert report is not None and report.n == len(run.test_split)  # type: ignore[arg-type]
        accuracy = static_text(app, "#insp-eval-accuracy")
        assert accuracy.startswith(f"test: accuracy {report.accuracy:.2%}")
        for op, acc in report.accuracy_by_op.items():
            assert f"{op:<7}" in accuracy and f"{acc:7.2%}" in accuracy
        assert "3 args" in accuracy
        confusion = static_text(app, "#insp-confusion").splitlines()
        assert confusion[1].split() == [str(d) for d in range(10)] + ["–"]
        for t in range(10):  # each row: its true answer, then the counts (blank for 0)
            row = confusion[2 + t].split()
            assert row[0] == str(t) and sum(int(x) for x in row[1:]) == report.confusion[t].sum()
        mistakes = app.query_one("#insp-mistakes", DataTable)
        assert mistakes.row_count == min(len(report.mistakes), 1000) > 0
        assert "Enter opens one in the Inference console" in static_text(app, "#insp-mistakes-title")

        mistakes.focus()
        await pilot.press("down", "enter")  # the second mistake
        chosen = report.mistakes[1]
        inference = app.query_one(InferencePane)
        await wait_until(pilot, lambda: inference.idle and inference.results, what="the console answer")
        assert app.opened == [chosen.expression]
        result = inference.results[-1]
        assert result.text == chosen.expression and result.answer == chosen.predicted and not result.correct
        assert f"› {chosen.expression}" in inference.console_text()
        assert f"✗ {chosen.predicted}   true answer {chosen.truth}" in inference.console_text()


async def test_evaluation_of_a_source_without_the_split_says_so() -> None:
    run = tiny_run()
    source = FixedModelSource(run.model, run.config.dataset.task, "bare")
    app = InspectorHost(source)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.pane
        await inspector_idle(pilot, pane)
        await app.run_action("evaluate", pane)
        await wait_until(pilot, lambda: pane.idle, what="the evaluation")
        assert "bare has no test split" in static_text(app, "#insp-eval-status")


def test_confusions_of_a_0_99_task_are_listed_not_drawn() -> None:
    task = TaskConfig(max_value=99, min_args=2, max_args=3)
    confusion = np.zeros((100, 101), dtype=np.int64)
    np.fill_diagonal(confusion, 5)
    confusion[57, 75], confusion[12, 100] = 3, 1
    report = EvaluationReport("test", 100, 0.1, 0.96, {}, {}, confusion, [])
    lines = confusion_text(report, task).plain.splitlines()
    assert lines[0].startswith("most frequent confusions")
    assert lines[1].split() == ["57", "→", "75", "×3"] and lines[2].split() == ["12", "→", "none", "×1"]


def test_snapshot_of_the_inspector_pane(snap_compare) -> None:  # type: ignore[no-untyped-def]
    """One parameter's numbers, histogram and heatmap on the shipped encoder (a picture under
    tests/__snapshots__/, compared exactly)."""

    async def show(pilot) -> None:  # type: ignore[no-untyped-def]
        pane = pilot.app.pane
        pane.pick("encoder-digits")
        await inspector_idle(pilot, pane)
        pane.show_parameter("blocks.0.attn.qkv.w")
        await inspector_idle(pilot, pane)
        pilot.app.query_one("#insp-tree").focus()
        await pilot.pause(0.1)

    assert snap_compare(InspectorHost(), terminal_size=(120, 40), run_before=show)


def test_heatmaps_use_only_the_256_colour_palette() -> None:
    """Shaded grids and weight maps look the same over SSH with 256 colours (no true-colour styles)."""
    from rich.color import ColorType
    from rich.style import Style

    from workbench.render.grids import grid, half_block_map

    m = np.random.default_rng(0).normal(size=(20, 30))
    m[0, 0], m[1, 1] = np.nan, np.inf
    labels = [str(i) for i in range(30)]
    drawings = [grid(np.abs(m) / 3, labels, labels), grid(m, labels, labels, signed=True, values="signed", lo=-3, hi=3),
                half_block_map(m, 12, 4)[0]]
    seen = 0
    for text in drawings:
        for span in text.spans:
            style = span.style if isinstance(span.style, Style) else Style.parse(span.style)
            for colour in (style.color, style.bgcolor):
                if colour is not None:
                    seen += 1
                    assert colour.type in (ColorType.DEFAULT, ColorType.STANDARD, ColorType.EIGHT_BIT), colour
    assert seen > 100
    assert "·" in drawings[0].plain  # a non-finite cell is marked, not coloured as a number
