"""Saving the app's run as a checkpoint, without ever silently replacing a better one.

The rule is the core's (``core.train.checkpoint.compare``), the same as ``workbench train``'s: a save
that would replace a checkpoint with a higher validation accuracy, or replace any checkpoint with a
diverged run, is not made; the save's thread posts ``ReplaceCheckpoint`` instead and the App asks the
user (``ConfirmReplaceScreen``): replace it, save under a free sibling name, or do not save.

The save itself runs where the run is safe to read: on the training thread between two steps while
the session is alive, else in a thread worker. Its outcome reaches the UI only as messages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from core.train import checkpoint as checkpoints
from core.train.checkpoint.compare import SaveGuard, loss_diverged
from core.train.run import Run
from workbench.messages import CheckpointSaved, SaveFailed

if TYPE_CHECKING:
    from textual.app import App

    from core.train.session import TrainingSession


class ReplaceCheckpoint(SaveFailed):
    """The save was not made: ``name`` holds a checkpoint better than the run (or the run diverged).
    ``reason`` says so in words; ``alternative`` is the free name it can be saved as instead. A kind of
    SaveFailed, so the App's one save-failure handler hands it to the controller, which asks."""

    def __init__(self, name: str, reason: str, alternative: str) -> None:
        super().__init__(name, reason)
        self.reason, self.alternative = reason, alternative


def describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"


class CheckpointSaver:
    """The saves of the current session: remembers which checkpoints are earlier states of its run (the
    one it was loaded from, the ones it saved), so those are compared with the noise margin."""

    def __init__(self, app: App[Any]) -> None:
        self.app = app
        self.guard = SaveGuard()
        self.divergence: str | None = None  # the message of a DivergenceEvent of this session

    def new_session(self, loaded: str | None) -> None:
        """A new run was adopted; ``loaded`` is the checkpoint it was loaded from, if any."""
        self.guard = SaveGuard()
        self.divergence = None
        if loaded:
            self.guard.started_from(checkpoints.find_checkpoint(loaded))

    def save(self, session: TrainingSession, name: str, force: bool) -> None:
        """Evaluate the run, decide, and save it as ``name`` (or post ``ReplaceCheckpoint``)."""
        app, guard = self.app, self.guard

        def save(run: Run) -> None:
            try:
                val, test = run.evaluate("val"), run.evaluate("test")
                metrics = {"val_accuracy": val.accuracy if val else None, "val_loss": val.loss if val else None,
                           "test_accuracy": test.accuracy if test else None, "steps": run.step}
                diverged = self.divergence or loss_diverged(session.history.points("train/loss")[1])
                decision = guard.decide(name, metrics, diverged)
                if not (decision.verdict.replace or force):
                    app.post_message(ReplaceCheckpoint(name, decision.verdict.reason, decision.alternative))
                    return
                path = checkpoints.save_checkpoint(run, name, history=session.history.to_records(), metrics=metrics)
                guard.went_to(name, name, path)
                if session.recorder is not None:
                    session.recorder.checkpoint(run.step, name, str(path), metrics)
            except Exception as exc:  # a full disk, a bad name, anything: the run is kept, the user told
                app.post_message(SaveFailed(name, describe(exc)))
                return
            app.post_message(CheckpointSaved(name, run.step, str(path)))

        if session.alive:
            session.request(save)
        else:
            run = session.run  # the worker has exited: nobody else touches the run
            app.run_worker(lambda: save(run), thread=True, group="save", exit_on_error=False,
                           name="save checkpoint")

    def ask(self, message: ReplaceCheckpoint, answer: Callable[[str | None], None]) -> None:
        """Ask whether to replace ``message.name`` (the confirm screen); ``answer`` gets the name to
        save over with force, the sibling name, or None (do not save)."""
        from workbench.screens.confirm_replace import ConfirmReplaceScreen

        self.app.push_screen(ConfirmReplaceScreen(message.name, message.reason, message.alternative), answer)
