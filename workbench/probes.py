"""The probes the Inference and Inspector panes run, on the app's model sources — without Textual.

Each function is what one thread worker of a pane does: ask a ``ModelSource`` (or the live session) for
the model, run a ``core.probe`` computation on it, and return the result or a one-line reason. They
never raise for anything a user can cause, nor for an unexpected exception (it becomes the reason), so
a worker only has to post what they return. They may block (a checkpoint read, the session lock): call
them from a thread, never from the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.data.task import TaskConfig
from core.probe.answers import ProbeOptions, ProbeResult, answer_texts
from core.probe.gradcheck_report import GradCheckReport, gradient_check
from core.probe.inspection import (
    HIST_BINS,
    ModelSummary,
    ParamView,
    model_param_view,
    session_param_view,
    summarize_model,
    summarize_session,
)
from core.train.report import EvaluationReport, build_report
from core.train.session import TrainingSession
from workbench.model_source import ModelSource, ProbeModel


class ProbeCancelledError(Exception):
    """Raised by a progress callback to abandon a long probe (its worker was cancelled)."""


def _reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


# -- the Inference pane -------------------------------------------------------------------------------------
def probe_texts(probe: ProbeModel, texts: Sequence[str], options: ProbeOptions,
                details: bool = True) -> list[ProbeResult]:
    """``core.probe.answers.answer_texts`` with ``probe``'s model, task and label. Never raises."""
    return answer_texts(probe.model, probe.task, texts, options, probe.label, details)


def answer_from_source(source: ModelSource, texts: Sequence[str], options: ProbeOptions | None,
                       option_error: str | None = None) -> list[ProbeResult]:
    """Answer ``texts`` with a copy of ``source``'s model. No model → every text gets the reason; a bad
    decoding option (``option_error``) refuses a decoder's texts and is ignored by an encoder."""
    try:
        probe = source.live()
    except Exception as exc:
        probe = f"cannot get the model: {_reason(exc)}"
    if isinstance(probe, str):
        return [ProbeResult(text=t, error=probe) for t in texts]
    if option_error is not None or options is None:
        if probe.kind == "decoder":
            return [ProbeResult(text=t, kind="decoder", error=option_error, label=probe.label) for t in texts]
        options = ProbeOptions()  # encoders ignore the decoding options
    return probe_texts(probe, texts, options)


# -- the Inspector pane -------------------------------------------------------------------------------------
@dataclass
class LoadedModel:
    """What the Inspector read of a model: its summary, and the model copy it reads parameters from
    (None for the live session, whose parameters are read through the session)."""

    summary: ModelSummary
    probe: ProbeModel | None = None


def load_model(source: ModelSource, session: TrainingSession | None) -> LoadedModel | str:
    """The live ``session``'s parameter list (when given), else a copy of ``source``'s model; or why not."""
    try:
        if session is not None:
            return LoadedModel(summarize_session(session))
        probe = source.live()
        if isinstance(probe, str):
            return probe
        return LoadedModel(summarize_model(probe.model, probe.label), probe)
    except Exception as exc:
        return f"cannot read the model: {_reason(exc)}"


def load_param(name: str, session: TrainingSession | None, probe: ProbeModel | None,
               bins: int = HIST_BINS) -> ParamView | str:
    """Parameter ``name`` of the live session (copies under its lock) or of the model copy; or why not."""
    try:
        if session is not None:
            return session_param_view(session, name, bins)
        if probe is not None:
            return model_param_view(probe.model, name, probe.label, bins)
        return "no model to read"
    except Exception as exc:
        return f"cannot read {name}: {_reason(exc)}"


def check_gradients(source: ModelSource, elements: int,
                    progress: Callable[[int, int, str], None] | None = None) -> GradCheckReport | str | None:
    """The gradient check of a copy of ``source``'s model (``elements`` per tensor), or why not; None
    when ``progress`` raised ``ProbeCancelledError``."""
    try:
        probe = source.live()
        if isinstance(probe, str):
            return probe
        return gradient_check(probe.model, task=probe.task, max_elements_per_tensor=elements, progress=progress)
    except ProbeCancelledError:
        return None
    except Exception as exc:
        return _reason(exc)


@dataclass
class Evaluation:
    report: EvaluationReport
    task: TaskConfig
    label: str


def evaluate(source: ModelSource, split_name: str) -> Evaluation | str:
    """The evaluation report of a copy of ``source``'s model on its ``split_name`` split, or why not."""
    try:
        probe = source.live()
        if isinstance(probe, str):
            return probe
        split = source.evaluation_split(split_name)
        if isinstance(split, str):
            return split
        return Evaluation(build_report(probe.model, probe.task, split_name, split), probe.task, probe.label)
    except Exception as exc:
        return _reason(exc)
