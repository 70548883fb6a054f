"""The Learn pane: lessons that run on the learner's own model.

Layout: the lesson list (with a short welcome, and ✓ / • for finished / opened lessons) beside the
reader. The reader shows one lesson as Markdown, with its live cells (numbers computed from the chosen
model for an expression the learner types, and buttons that open the related view) and its exercises
(the learner answers; the workbench measures the model and says whether the answer holds). On a wide
screen both columns show; on a narrow one (80 columns) the list and the reader take turns: Enter opens
a lesson, escape returns to the list.

Which model: the chooser in the reader's bar — the live run (only while it is not training: the live
source copies its weights under the session lock) or any saved model; by default the shipped
``encoder-digits`` until the learner has a run of a task the lessons' example fits (``Max(3, 7, 2)``), then
the live run (from the next lesson opened), unless they chose a model themselves.

Threads: cells and checks run in one thread worker, in the order asked (a check may even train a tiny
model for 50 steps); results come back with ``call_from_thread``. Any failure a learner can cause — an
expression that does not parse, a model that cannot take it, no model — is one line in the cell.
Progress (lessons opened and finished, exercises solved) is saved per user (``workbench.learn_progress``).
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Markdown, OptionList, Static
from textual.widgets.option_list import Option

from core.data.expression import parse_expression
from core.errors import ExpressionError, LLMLearnError
from core.probe.exercises import ExerciseContext, check_exercise
from core.probe.lesson_cells import compute_cell
from core.train.session import TrainingSession
from workbench.learn_progress import LearnProgress
from workbench.lessons import Exercise, Lesson, LiveCell, load_lessons
from workbench.lessons import Markdown as MarkdownPart
from workbench.model_source import LIVE, ModelChoice, ModelSource, ProbeModel
from workbench.widgets.exercise_view import ExerciseView
from workbench.widgets.live_cell import LiveCellView
from workbench.widgets.model_chooser import ModelChooser

DEFAULT_MODEL = "ck:encoder-digits"
LESSON_EXAMPLE = "Max(3, 7, 2)"  # the expression the lessons' text and cells are written around

WELCOME = """\
**Welcome to the llmlearn workbench.** Here you train a tiny transformer from scratch — every part \
written by hand in NumPy — watch it learn, and take it apart.

A path: read lessons 1–3 here, train a model (F3, then F6), ask it questions (F4) and look inside (F5). \
Each lesson computes its numbers on *your* model and checks your answers against it.

Enter opens a lesson · n / p next / previous · ? explains any view · F1 all keys"""

Job = tuple[Widget, Callable[[], object], Callable[[object], None], Callable[[str], None]]


class LearnPane(Widget):
    """Lesson list + reader; live cells and exercises computed on the chosen model."""

    DEFAULT_CSS = """
    LearnPane { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "next_lesson", "Next lesson"),
        Binding("p", "previous_lesson", "Previous"),
        Binding("escape", "contents", "Lessons", show=False),
        Binding("t", "trace", "Trace", tooltip="Step through the focused (or last edited) live cell's expression"),
        Binding("f12,ctrl+y", "trace", "Trace", show=False, priority=True),  # also inside a cell's input
    ]

    def __init__(self, live: ModelSource, get_session: Callable[[], TrainingSession | None], *,
                 models_root: str | None = None, progress: LearnProgress | None = None,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.models = ModelChoice(live, models_root)
        self.get_session = get_session
        self.models_root = models_root
        self.progress = progress if progress is not None else LearnProgress.load()
        self.load_error: str | None = None
        try:
            self.lessons: list[Lesson] = load_lessons()
        except LLMLearnError as exc:  # a damaged installation: say so, keep the app
            self.lessons, self.load_error = [], str(exc)
        self.current: int | None = None
        self.user_picked = False  # the learner chose a model in the bar (else the live run once there is one)
        self._jobs: deque[Job] = deque()
        self._jobs_lock = threading.Lock()
        self._busy = False
        self.pending = 0

    # -- layout -------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        choice = self.followed_model()
        self.models.pick(choice)
        with Horizontal(id="learn-columns"):
            with Vertical(id="learn-contents"):
                yield Markdown(WELCOME, id="learn-welcome")
                yield OptionList(*self._options(), id="lesson-list")
            with Vertical(id="learn-reader"):
                with Horizontal(id="learn-bar"):
                    yield Static("", id="learn-title")
                    yield ModelChooser(self.models_root, choice, id="learn-model")
                yield VerticalScroll(id="lesson-body")

    def _options(self) -> list[Option]:
        if self.load_error:
            return [Option(f"✗ {self.load_error}", disabled=True)]
        return [Option(self._label(lesson), id=lesson.key) for lesson in self.lessons]

    def _label(self, lesson: Lesson) -> str:
        mark = "✓" if lesson.key in self.progress.finished else "•" if lesson.key in self.progress.opened else " "
        return f"{mark} {lesson.number:2d}  {lesson.title}"

    def on_mount(self) -> None:
        if self.progress.warning:
            self.notify(self.progress.warning, severity="warning")
        self.query_one("#learn-title", Static).update("Choose a lesson on the left (Enter opens it)")

    def focus_default(self) -> None:
        """Focus the lesson list (on a narrow screen: whatever shows)."""
        if self.has_class("-reading") and self.current is not None:
            self.query_one("#lesson-body").focus()
        else:
            options = self.query_one("#lesson-list", OptionList)
            if options.highlighted is None and options.option_count:
                options.highlighted = 0
            options.focus()

    @property
    def choice(self) -> str:
        return self.models.choice

    @property
    def idle(self) -> bool:
        return self.pending == 0

    # -- lessons ------------------------------------------------------------------------------------
    @on(OptionList.OptionSelected, "#lesson-list")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.open_lesson(event.option_index)

    def followed_model(self) -> str:
        """The model the lessons use unless the learner chose one: the live run once there is one whose task
        takes the lessons' running example (``Max(3, 7, 2)``), else the shipped ``encoder-digits`` — a Sum
        or Sort run would answer every cell of lesson 1 with "Max is not part of this task"."""
        session = self.get_session()
        if session is None:
            return DEFAULT_MODEL
        try:
            parse_expression(LESSON_EXAMPLE, session.run.config.dataset.task)
        except ExpressionError:
            return DEFAULT_MODEL
        return LIVE

    def open_lesson(self, index: int) -> None:
        """Show lesson ``index`` (0-based) in the reader and compute its live cells."""
        if not 0 <= index < len(self.lessons):
            return
        lesson = self.lessons[index]
        followed = self.followed_model()
        if not self.user_picked and self.models.choice != followed:
            self.pick(followed)  # the learner has a run now: lessons follow it unless they chose a model
        self.current = index
        self.progress.mark_opened(lesson.key)
        self._refresh_list()
        self.query_one("#lesson-list", OptionList).highlighted = index
        self.query_one("#learn-title", Static).update(Text(f"{lesson.number}. {lesson.title}", style="bold"))
        body = self.query_one("#lesson-body", VerticalScroll)
        body.remove_children()
        widgets: list[Widget] = []
        for part in lesson.parts:
            if isinstance(part, MarkdownPart):
                widgets.append(Markdown(part.text))
            elif isinstance(part, LiveCell):
                widgets.append(LiveCellView(part))
            elif isinstance(part, Exercise):
                widgets.append(ExerciseView(part, self.progress.is_solved(lesson.key, part.id)))
        following = self.lessons[index + 1].title if index + 1 < len(self.lessons) else None
        end = f"End of lesson {lesson.number}." + (f" Press n for the next one: {following}." if following
                                                   else " That was the last lesson.")
        widgets.append(Static(Text(end, style="dim"), classes="lesson-end"))
        body.mount_all(widgets)
        body.scroll_home(animate=False)
        self.add_class("-reading")
        body.focus()  # the list may hide (narrow screen): keys go to the lesson, ↑/↓ scroll it

    def _compute_all(self) -> None:
        """Recompute every cell on screen (each new cell asks for itself when it mounts)."""
        for view in self.query(LiveCellView):
            if view.is_mounted and view.is_attached:
                view.request()

    def _refresh_list(self) -> None:
        options = self.query_one("#lesson-list", OptionList)
        highlighted = options.highlighted
        options.clear_options()
        options.add_options(self._options())
        options.highlighted = highlighted

    def action_next_lesson(self) -> None:
        if self.current is not None:
            self._finish_if_done(self.lessons[self.current])
        self.open_lesson(0 if self.current is None else min(self.current + 1, len(self.lessons) - 1))

    def _finish_if_done(self, lesson: Lesson) -> None:
        """✓ in the list means done: moving on from a lesson finishes it only when each of its exercises has
        been answered right (a lesson without exercises, once read); paging past one with an exercise
        still to solve leaves it • (opened)."""
        exercises = [part for part in lesson.parts if isinstance(part, Exercise)]
        if all(self.progress.is_solved(lesson.key, e.id) for e in exercises):
            self.progress.mark_finished(lesson.key)

    def action_previous_lesson(self) -> None:
        if self.current is not None and self.current > 0:
            self.open_lesson(self.current - 1)

    def action_contents(self) -> None:
        """Back to the lesson list (on a narrow screen the reader hides)."""
        self.remove_class("-reading")
        self.query_one("#lesson-list", OptionList).focus()

    def action_trace(self) -> None:
        """The Trace view (step debugger) of ``lesson_expression`` on the lesson's model."""
        from workbench.screens.trace import lesson_expression, open_trace

        open_trace(self.app, self.models.source(), self.choice, lesson_expression(self))

    # -- the model ----------------------------------------------------------------------------------
    @on(ModelChooser.Chosen)
    def _model_chosen(self, event: ModelChooser.Chosen) -> None:
        event.stop()
        self.user_picked = True
        self.pick(event.choice)

    def pick(self, choice: str) -> None:
        """Look at ``choice`` ("live" or "ck:NAME") and recompute the lesson's cells on it."""
        self.models.pick(choice)
        chooser = self.query_one("#learn-model", ModelChooser)
        if chooser.choice != self.models.choice:
            chooser.choice = self.models.choice
        self._compute_all()

    def _probe_model(self) -> ProbeModel:
        got = self.models.source().live()
        if isinstance(got, str):
            raise LLMLearnError(got)
        return got

    # -- cells and exercises (computed in one worker, in order) --------------------------------------
    @on(LiveCellView.Compute)
    def _compute_cell(self, event: LiveCellView.Compute) -> None:
        event.stop()
        view, cell, text = event.view, event.view.cell, event.expression

        def compute() -> object:
            pm = self._probe_model()
            return compute_cell(cell.kind, pm.model, text, pm.task, **cell.params)

        self._submit(view, compute, view.show_result, view.show_error)  # type: ignore[arg-type]

    @on(ExerciseView.Answered)
    def _answered(self, event: ExerciseView.Answered) -> None:
        event.stop()
        view, exercise, answer = event.view, event.view.exercise, event.answer
        lesson = self.lessons[self.current].key if self.current is not None else ""

        def check() -> object:
            pm = self._probe_model()
            return check_exercise(exercise.check, ExerciseContext(pm.model, pm.task), answer, exercise.options,
                                  **exercise.params)

        def show(verdict: object) -> None:
            view.show_verdict(verdict)  # type: ignore[arg-type]
            if getattr(verdict, "correct", False) and lesson:
                self.progress.mark_solved(lesson, exercise.id)
                if self.current is not None and self.lessons[self.current].key == lesson:
                    self._finish_if_done(self.lessons[self.current])  # the last exercise solved: done
                    self._refresh_list()  # (moving on refreshes it in open_lesson)

        self._submit(view, check, show, view.show_error)

    def _submit(self, target: Widget, job: Callable[[], object], done: Callable[[object], None],
                failed: Callable[[str], None]) -> None:
        """Run ``job`` in the worker; ``done(result)`` or ``failed(reason)`` on the UI thread, unless
        ``target`` left the screen meanwhile (the learner opened another lesson)."""
        self.pending += 1
        with self._jobs_lock:
            self._jobs.append((target, job, done, failed))
            start = not self._busy
            self._busy = True
        if start:
            self._worker()

    @work(thread=True, group="learn", exit_on_error=False)
    def _worker(self) -> None:
        try:
            while True:
                with self._jobs_lock:
                    if not self._jobs:
                        self._busy = False
                        return
                    target, job, done, failed = self._jobs.popleft()
                if not target.is_attached:  # its lesson was closed before its turn came
                    self._deliver(target, None, None)
                    continue
                try:
                    result = job()
                except LLMLearnError as exc:
                    self._deliver(target, failed, str(exc))
                except Exception as exc:  # a bug must not end the app: one line, with its type
                    self._deliver(target, failed, f"{type(exc).__name__}: {exc}")
                else:
                    self._deliver(target, done, result)
        finally:
            with self._jobs_lock:
                self._busy = False

    def _deliver(self, target: Widget, callback: Callable[[object], None] | Callable[[str], None] | None,
                 value: object) -> None:
        def show() -> None:
            self.pending = max(0, self.pending - 1)
            if callback is not None and target.is_attached:
                callback(value)  # type: ignore[arg-type]

        with contextlib.suppress(RuntimeError):  # the app is closing
            self.app.call_from_thread(show)
