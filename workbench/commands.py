"""The command palette (ctrl+p): every main action of the workbench by name.

The commands run the same app actions as the keys and buttons, so the three stay consistent. An entry
is an action string (run with ``App.run_action``) or a callable given the app, for what a pane opens
itself (the Trace view).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import partial
from typing import Any

from textual.app import App
from textual.command import DiscoveryHit, Hit, Hits, Provider

from workbench.screens.explain import open_explanation
from workbench.screens.trace import open_trace_here

Command = str | Callable[[App[Any]], object]

#: (command name, action string or callable, help text)
COMMANDS: tuple[tuple[str, Command, str], ...] = (
    ("Training: start / resume", "start", "Start a new run from the settings, or resume a paused one (F6)"),
    ("Training: pause / resume", "pause", "Pause a running run, or resume a paused one (F6)"),
    ("Training: single step", "step", "Take exactly one training step (F7)"),
    ("Training: one epoch", "epoch", "Train until the end of the current epoch (F8)"),
    ("Training: stop", "stop", "End the run; its worker thread exits (F9)"),
    ("Checkpoint: save", "save", "Save the run as a checkpoint in your models folder (ctrl+s)"),
    ("Checkpoint: load", "load", "Load a saved checkpoint and continue training it (ctrl+o)"),
    ("Dataset: generate", "dataset('generate')", "Generate the dataset described in the Dataset pane (ctrl+g)"),
    ("Dataset: save to file", "dataset('save')", "Write the current dataset to the path in the Dataset pane"),
    ("Dataset: load from file", "dataset('load')", "Read a dataset file from the path in the Dataset pane"),
    ("Show pane: Learn", "show_pane('learn')", "Lessons that run on your model (F10)"),
    ("Show pane: Dataset", "show_pane('dataset')", "F2"),
    ("Show pane: Training", "show_pane('training')", "F3"),
    ("Show pane: Inference", "show_pane('inference')", "F4"),
    ("Show pane: Inspector", "show_pane('inspector')", "F5"),
    ("Show chart: loss", "show_chart('loss')", "Training pane chart"),
    ("Show chart: accuracy", "show_chart('accuracy')", "Training pane chart"),
    ("Show chart: accuracy per operation", "show_chart('per-op')", "Training pane chart"),
    ("Show chart: learning rate", "show_chart('lr')", "Training pane chart"),
    ("Show chart: gradient norm", "show_chart('grad')", "Training pane chart"),
    ("Toggle settings panel", "toggle_config", "Show/hide the model and optimizer settings (ctrl+l)"),
    ("Pace: full speed", "set_pace('')", "Train as fast as possible"),
    ("Pace: 1 step per second", "set_pace('1')", "Slow motion, to watch each step"),
    ("Pace: 10 steps per second", "set_pace('10')", "Slow enough to follow the charts"),
    ("Pace: watch (20 steps per second)", "set_pace('watch')", "The charts visibly move (the Watch button)"),
    ("Trace: this expression", open_trace_here,
     "Step through forward, loss, backward and update of the Learn or Inference pane's expression (F12)"),
    ("Explain this view", open_explanation, "What am I looking at? How to read the view the focus is in (?)"),
    ("Help: keys", "help", "Every key binding (F1)"),
    ("Quit", "quit", "Quit, offering to save an unsaved run (ctrl+q)"),
)


class WorkbenchCommands(Provider):
    """Offers ``COMMANDS``; selecting one runs its action on the app."""

    async def _run(self, action: Command) -> None:
        if isinstance(action, str):
            await self.app.run_action(action)
            return
        result = action(self.app)
        if inspect.isawaitable(result):
            await result

    async def discover(self) -> Hits:
        for name, action, help_text in COMMANDS:
            yield DiscoveryHit(name, partial(self._run, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, action, help_text in COMMANDS:
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), partial(self._run, action), help=help_text)
