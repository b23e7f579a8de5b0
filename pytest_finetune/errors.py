"""Errors a user can act on.

Each one carries a single line that names the file, column, line or option at fault and
what was expected, so a failing CI log says what to fix without a library traceback.
"""
from __future__ import annotations


class FinetuneError(Exception):
    """Base class: anything pytest-finetune reports as the user's to fix."""


class ConfigError(FinetuneError):
    """An option has a value the harness cannot use."""


class DataError(FinetuneError):
    """The MRPC source is missing, unreadable or not in the expected form."""


class ModelError(FinetuneError):
    """The model or tokenizer cannot be loaded as asked.

    Always one line: a line break that reaches the message (a folder name, a library's text)
    is shown escaped, so a CI log never splits one error over several lines.
    """

    def __init__(self, message: str) -> None:
        super().__init__(str(message).replace("\r", "\\r").replace("\n", "\\n"))


class BaselineError(FinetuneError):
    """A stored baseline file is unreadable or belongs to something else."""


class NonFiniteLossError(FinetuneError):
    """Training produced a NaN or infinite loss; the run is stopped at that step."""
