"""The live state of the run: state and step, the numbers, what is being trained, and progress bars.

It reads a ``SessionController`` it is given (attributes down) and never commands it. Repaints are
cheap on purpose: a status line changes its height (a layout pass, ~30 ms that the training thread
would lose to the GIL) only when the wrapped text needs a different number of lines.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from workbench.session_controller import SessionController
from workbench.steering import clock, describe_steering
from workbench.widgets.progress import RunProgress

STATE_STYLE = {"running": "bold green", "paused": "bold yellow", "idle": "bold", "finished": "bold blue",
               "stopped": "bold red", "building": "bold magenta", "no run": "dim", "loading": "bold magenta"}


def state_line(c: SessionController) -> Text:
    line = Text()
    line.append(f"● {c.state.upper()}", style=STATE_STYLE.get(c.state, "bold"))
    if c.reason and c.reason != "session opened":
        line.append(f"  {c.reason}", style="italic")
    s = c.session
    if s is not None:
        run = s.run
        step = run.step  # read once: the training thread moves on while this line is drawn
        line.append(f"   step {step:,}/{run.total_steps:,} · epoch {run.epoch_of(step):,}/{run.config.epochs:,}")
    extras = describe_steering(c.pace, c.until)
    if extras:
        line.append("   " + extras, style="yellow")
    return line


def metrics_text(c: SessionController) -> Text:
    metrics = Text()
    s = c.session
    if s is None:
        if c.busy:
            metrics.append("Preparing the run: the controls come back once it is ready.", style="dim")
        elif c.last_error:
            metrics.append(f"✗ {c.last_error}", style="red")
        else:
            metrics.append("F6 starts a run with the settings on the left (ctrl+l shows/hides them), on the "
                           "dataset of the Dataset pane (F2).", style="dim")
        return metrics
    run = s.run
    e = c.last_step_event
    if e is not None:
        metrics.append("loss ", style="dim").append(f"{e.loss:.4f}", style="bold")
        metrics.append("  batch acc ", style="dim").append(f"{e.accuracy:.1%}", style="bold")
    if c.last_eval is not None:
        v = c.last_eval
        metrics.append("  val loss ", style="dim").append(f"{v.loss:.4f}")
        metrics.append("  val acc ", style="dim").append(f"{v.accuracy:.1%}", style="bold cyan")
    if e is not None:
        metrics.append("\nlr ", style="dim").append(f"{e.lr:.3g}")
        metrics.append("  grad ", style="dim").append(f"{e.grad_norm:.3g}")
        if c.tokens_per_s is not None:
            metrics.append("  ", style="dim").append(f"{c.tokens_per_s:,.0f}").append(" tok/s", "dim")
    rate = c.steps_per_second()
    if rate is not None and rate > 0:
        metrics.append("  ").append(f"{rate:.1f}").append(" steps/s", "dim")
        metrics.append("  ETA ", style="dim").append(clock((run.total_steps - run.step) / rate))
    if not metrics:
        where = f"At step {run.step:,}" if run.step else "No steps yet"
        metrics.append(f"{where}: F6 runs, F7 takes one step, F8 one epoch.", style="dim")
    if c.last_error and c.state == "paused":
        metrics.append(f"\n✗ {c.last_error}", style="red")
    return metrics


def info_text(c: SessionController) -> Text:
    info = Text(style="dim")
    s = c.session
    if s is None:
        return info
    run = s.run
    info.append(f"{run.config.model.kind} · {run.model.num_parameters:,} parameters · "
                f"{run.config.dataset.task.describe()} · {run.config.dataset.n_train:,} train")
    if c.checkpoint_name:
        shipped = " (shipped, read-only)" if c.is_shipped(c.checkpoint_name) else ""
        saved = "saved" if not c.has_unsaved_progress() else "unsaved steps"
        info.append(f" · checkpoint {c.checkpoint_name}{shipped} ({saved})")
    return info


class RunStatus(Vertical):
    """Three status lines and the progress bars of the controller's current run."""

    def __init__(self, controller: SessionController, id: str | None = None) -> None:
        super().__init__(id=id)
        self.controller = controller
        self.rendered_at = 0.0
        self._shown_text: dict[str, tuple[str, int]] = {}

    def compose(self) -> ComposeResult:
        yield Static("", id="run-state")
        yield Static("", id="run-metrics")
        yield Static("", id="run-info")
        yield RunProgress(id="progress")

    def on_mount(self) -> None:
        self.show()

    def on_resize(self) -> None:
        # A new width (the settings column shown or hidden, a terminal resize) wraps the lines anew: their
        # heights follow once the new widths are laid out.
        self.call_after_refresh(self.show)

    def show(self) -> None:
        c = self.controller
        progress = self.query_one("#progress", RunProgress)
        s = c.session
        if s is None:
            progress.set(None, None)
        else:
            run = s.run
            spe = run.steps_per_epoch
            in_epoch = run.batch_index if run.batch_index or not run.step else spe
            progress.set(1.0 if run.finished else in_epoch / spe, run.step / run.total_steps)
        self.rendered_at = time.monotonic()
        for widget_id, text in (("run-state", state_line(c)), ("run-metrics", metrics_text(c)),
                                ("run-info", info_text(c))):
            self._show(widget_id, text)

    def _show(self, widget_id: str, text: Text) -> None:
        """Update a status line without a layout pass unless its number of lines changes."""
        widget = self.query_one(f"#{widget_id}", Static)
        width = widget.content_region.width or widget.size.width
        if self._shown_text.get(widget_id) == (text.plain, width):
            return
        self._shown_text[widget_id] = (text.plain, width)
        lines = len(text.wrap(self.app.console, width)) if width > 0 else 1
        lines = max(1, min(lines, 4))
        if widget.styles.height is None or widget.styles.height.value != lines:
            widget.styles.height = lines
        widget.update(text, layout=False)
