"""Error types of the core library.

Every error a user can provoke (a bad expression, a bad config value, a broken file) is one of these,
so callers — the CLI, the workbench — can show a one-line message instead of a traceback. They all
derive from ``ValueError`` so generic code that catches bad input still works.
"""

from __future__ import annotations


class LLMLearnError(ValueError):
    """Base class of every user-facing error raised by ``core``."""


class ConfigError(LLMLearnError):
    """A configuration value is invalid (e.g. heads not dividing d_model)."""


class DatasetError(LLMLearnError):
    """A dataset cannot be generated, loaded or used (e.g. empty, corrupt file)."""


class ExpressionError(LLMLearnError):
    """A typed expression cannot be parsed or is outside the task.

    ``position`` is the 0-based character offset in ``text`` where the problem was found (or ``None``
    when it concerns the whole input); ``str(error)`` names the problem and the column.
    """

    def __init__(self, message: str, text: str = "", position: int | None = None) -> None:
        self.message = message
        self.text = text
        self.position = position
        where = f" at column {position + 1}" if position is not None else ""
        super().__init__(f"{message}{where}")

    def pointer(self) -> str:
        """The input with a caret under the offending column, for multi-line displays."""
        if self.position is None:
            return self.text
        return f"{self.text}\n{' ' * self.position}^"


class CheckpointError(LLMLearnError):
    """A checkpoint cannot be saved or loaded (missing, truncated, mismatched, unsafe name)."""


class LabError(LLMLearnError):
    """A Lab request cannot be carried out (an unknown head, inputs of different lengths, a corruption that
    leaves the answer unchanged, an attribution the model's architecture does not allow)."""
