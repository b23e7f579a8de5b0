"""Hooks pytest-finetune calls, for other plugins (and this repo's benchmarks) to implement.

Registered by ``pytest_addhooks`` in ``hooks``. A hook is the plain pytest way to learn
what the plugin does without patching its functions: ``benchmarks/count_runs.py`` counts
the trainings of a session with ``pytest_finetune_run_started``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from pluggy import HookspecMarker

if TYPE_CHECKING:
    from pytest_finetune.runs import RunConfig

hookspec = HookspecMarker("pytest")


@hookspec
def pytest_finetune_run_started(config: pytest.Config, run_config: RunConfig) -> None:
    """Called just before a session trains ``run_config`` (``finetune_run`` or a baseline
    fixture's extra seeds): once per distinct configuration, since a session keeps its runs.
    ``config`` is the session's ``pytest.Config``; a run that then fails has still started.
    """
