"""A ``FinetuneError`` as a test failure of one line: the one home of that translation."""
from __future__ import annotations

import contextlib
from typing import Iterator

import pytest

from pytest_finetune.errors import FinetuneError


@contextlib.contextmanager
def one_line_failure() -> Iterator[None]:
    """A FinetuneError inside the block fails the test with its one line (no traceback)."""
    __tracebackhide__ = True
    try:
        yield
    except FinetuneError as exc:
        problem = str(exc)
    else:
        return
    # Raised while contextlib handles the error: "from None" keeps pytest from showing it
    # again as "During handling of the above exception".
    raise pytest.fail.Exception(problem, pytrace=False) from None
