"""The command palette (ctrl+p): every main action of the workbench by name.

The commands run the same app actions as the keys and buttons, so the three stay consistent. An entry
is an action string (run with ``App.run_action``) or a callable given the app, for what a pane does
itself (the Trace view, the Inspector's evaluation, the Inference pane's decoding): the callable shows
that pane and runs the same action as the pane's key. Typing ``lr 5e-4`` offers to apply that learning
rate.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from functools import partial
from typing import Any

from textual.app import App
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.widgets import Input

from core.errors import LLMLearnError
from core.train.presets import PRESETS, preset
from workbench.lessons import load_lessons
from workbench.panes.dataset import DatasetPane
from workbench.screens.explain import open_explanation
from workbench.screens.trace import open_trace_here

Command = str | Callable[[App[Any]], object]

#: "lr 5e-4", "learning rate = 0.001", "set lr 1e-3": the palette offers to apply that learning rate.
_LR_QUERY = re.compile(r"^\s*(?:set\s+)?(?:lr|learning\s+rate)\s*[=:]?\s*(\S+)\s*$", re.IGNORECASE)


def _in_pane(pane: str, action: str) -> Callable[[App[Any]], object]:
    """Show ``pane`` and run its ``action_<action>`` (what the pane's own key does)."""

    async def run(app: App[Any]) -> object:
        await app.run_action(f"show_pane('{pane}')")
        return getattr(app.query_one(f"#{pane}-pane"), f"action_{action}")()

    return run


def _preset(name: str) -> Callable[[App[Any]], object]:
    """The Dataset pane with preset ``name`` chosen: its task generated, its model and optimiser set."""

    async def run(app: App[Any]) -> None:
        await app.run_action("show_pane('dataset')")
        app.query_one("#dataset-pane", DatasetPane).choose_preset(preset(name))

    return run


def _lesson(index: int) -> Callable[[App[Any]], object]:
    """The Learn pane with lesson ``index`` (0-based) open in its reader."""

    async def run(app: App[Any]) -> None:
        await app.run_action("show_pane('learn')")
        app.query_one("#learn-pane").open_lesson(index)  # type: ignore[attr-defined]

    return run


def _lesson_commands() -> tuple[tuple[str, Command, str], ...]:
    """"Lesson 10: Training dynamics" and so on: a lesson by its title from anywhere (none if the shipped
    lessons cannot be read — the Learn pane says why)."""
    try:
        lessons = load_lessons()
    except LLMLearnError:
        return ()
    return tuple((f"Lesson {lesson.number}: {lesson.title}", _lesson(i), "Open this lesson in the Learn pane (F10)")
                 for i, lesson in enumerate(lessons))


async def _focus_watch(app: App[Any]) -> None:
    """The Training pane's Watch & health view, with the focus in the pin field."""
    await app.run_action("show_pane('training')")
    await app.run_action("show_chart('health')")
    app.call_after_refresh(app.query_one("#watch-input", Input).focus)


async def _focus_lr(app: App[Any]) -> None:
    """The Training pane, with the focus in its lr field (Enter applies what is typed)."""
    await app.run_action("show_pane('training')")
    field = app.query_one("#lr-input", Input)
    app.call_after_refresh(field.focus)
    app.notify("Type the new learning rate and press Enter (or type \"lr 5e-4\" in the palette).", timeout=4)


def _set_lr(text: str) -> Callable[[App[Any]], object]:
    async def run(app: App[Any]) -> object:
        await app.run_action("show_pane('training')")
        return app.query_one("#training-pane").steer.request_lr(text)  # type: ignore[attr-defined]

    return run


def _decode(strategy: str) -> Callable[[App[Any]], object]:
    """The Inference pane, decoding with ``strategy`` (its options field focused when it has one)."""

    async def run(app: App[Any]) -> None:
        await app.run_action("show_pane('inference')")
        app.query_one("#inference-pane").set_strategy(strategy)  # type: ignore[attr-defined]
        option = {"sample": "#inf-temperature", "beam": "#inf-beam"}.get(strategy)
        if option:
            app.call_after_refresh(app.query_one(option, Input).focus)

    return run


#: (command name, action string or callable, help text)
COMMANDS: tuple[tuple[str, Command, str], ...] = (
    ("Training: start / resume", "start", "Start a new run from the settings, or resume a paused one (F6)"),
    ("Training: new run", "new_run", "Close the current run (offering to save it) and start one from the settings"),
    ("Training: pause / resume", "pause", "Pause a running run, or resume a paused one (F6)"),
    ("Training: single step", "step", "Take exactly one training step (F7)"),
    ("Training: one epoch", "epoch", "Train until the end of the current epoch (F8)"),
    ("Training: stop", "stop", "End the run; its worker thread exits (F9)"),
    ("Checkpoint: save", "save", "Save the run as a checkpoint in your models folder (ctrl+s)"),
    ("Checkpoint: load", "load", "Load a saved checkpoint and continue training it (ctrl+o)"),
    ("Dataset: generate", "dataset('generate')", "Generate the dataset described in the Dataset pane (ctrl+g)"),
    ("Dataset: save to file", "dataset('save')", "Write the current dataset to the path in the Dataset pane"),
    ("Dataset: load from file", "dataset('load')", "Read a dataset file from the path in the Dataset pane"),
    *((f"Preset: {p.title}", _preset(p.name), p.what) for p in PRESETS.values()),
    ("Show pane: Learn", "show_pane('learn')", "Lessons that run on your model (F10)"),
    *_lesson_commands(),
    ("Show pane: Dataset", "show_pane('dataset')", "F2"),
    ("Show pane: Training", "show_pane('training')", "F3"),
    ("Show pane: Inference", "show_pane('inference')", "F4"),
    ("Show pane: Inspector", "show_pane('inspector')", "F5"),
    ("Show pane: Lab", "show_pane('lab')", "Ablation, patching, attribution and circuits (F11)"),
    ("Show pane: Runs", "show_pane('runs')", "Every recorded run: compare them, travel back through one (ctrl+f)"),
    ("Runs: time travel", _in_pane("runs", "travel"),
     "The run under the cursor at its last weight snapshot; [ and ] move through them (Runs pane, t)"),
    ("Runs: reload the records", _in_pane("runs", "reload"), "Read the run records again (Runs pane, r)"),
    ("Show chart: loss", "show_chart('loss')", "Training pane chart"),
    ("Show chart: accuracy", "show_chart('accuracy')", "Training pane chart"),
    ("Show chart: accuracy per operation", "show_chart('per-op')", "Training pane chart"),
    ("Show chart: watch list and training health", "show_chart('health')",
     "Pinned expressions answered live; update ratios, dead units, spikes; what happened (Training pane)"),
    ("Training: pin an expression to watch…", _focus_watch,
     "Its answer and probability update live as the run trains (Training pane, Watch & health)"),
    ("Charts: cycle smoothing", "charts('smoothing')", "0 → 0.6 → 0.9 → 0.99; the raw points stay in grey (e)"),
    ("Charts: log y", "charts('log_y')", "Log scale on the loss, lr and gradient-norm charts (y)"),
    ("Charts: log x", "charts('log_x')", "Log scale on the steps of every chart (x)"),
    ("Show chart: learning rate", "show_chart('lr')", "Training pane chart"),
    ("Show chart: gradient norm", "show_chart('grad')", "Training pane chart"),
    ("Training: set learning rate…", _focus_lr,
     "The lr field: the new rate applies from the next step (or type \"lr 5e-4\" here)"),
    ("Toggle settings panel", "toggle_config", "Show/hide the model and optimizer settings (ctrl+l)"),
    ("Pace: full speed", "set_pace('')", "Train as fast as possible"),
    ("Pace: 1 step per second", "set_pace('1')", "Slow motion, to watch each step"),
    ("Pace: 10 steps per second", "set_pace('10')", "Slow enough to follow the charts"),
    ("Pace: watch (20 steps per second)", "set_pace('watch')", "The charts visibly move (the Watch button)"),
    ("Inference: decoding greedy", _decode("greedy"), "Each token the most likely one (Inference pane)"),
    ("Inference: decoding by sampling", _decode("sample"),
     "Draw each token from the model's distribution, with temperature and top-k (Inference pane)"),
    ("Inference: decoding by beam search", _decode("beam"),
     "Keep the best few partial answers at each token (Inference pane)"),
    ("Inspector: evaluate", _in_pane("inspector", "evaluate"),
     "Accuracy, confusion matrix and mistakes on the chosen split (Inspector pane, e)"),
    ("Inspector: gradient check", _in_pane("inspector", "gradient_check"),
     "Backprop against finite differences on a copy of the model (Inspector pane, g)"),
    ("Inspector: counterexample search", _in_pane("inspector", "counterexamples"),
     "The input regions people type first where the model is weak (Inspector pane, x)"),
    ("Inspector: refresh", _in_pane("inspector", "reload"),
     "Re-read the model: the live run's current weights (Inspector pane, r)"),
    ("Lab: switch off each head", _in_pane("lab", "heads"),
     "What the answers lose without each head, and a caption for every head (Lab pane, a)"),
    ("Lab: ablate", _in_pane("lab", "ablate"),
     "Switch off the heads, neurons or sublayers named in the Lab's form (Lab pane, b)"),
    ("Lab: activation patching", _in_pane("lab", "patch"),
     "Where the answer lives: patch a clean input's activations into a corrupted one (Lab pane, p)"),
    ("Lab: logit attribution", _in_pane("lab", "attribute"),
     "How much each head and FFN pushes the answer's logit (Lab pane, t)"),
    ("Trace: this expression", open_trace_here,
     "Step through forward, loss, backward and update of the Learn or Inference pane's expression (F12)"),
    ("Explain this view", open_explanation, "What am I looking at? How to read the view the focus is in (?)"),
    ("Help: keys", "help", "Every key binding (F1)"),
    ("Quit", "quit", "Quit, offering to save an unsaved run (ctrl+q)"),
)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


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
        lr = _LR_QUERY.match(query)
        if lr and _is_number(lr.group(1)):
            yield Hit(1.0, f"Training: set learning rate to {lr.group(1)}", partial(self._run, _set_lr(lr.group(1))),
                      help="From the next step of the live run (or the start of the next run)")
        matcher = self.matcher(query)
        for name, action, help_text in COMMANDS:
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), partial(self._run, action), help=help_text)
