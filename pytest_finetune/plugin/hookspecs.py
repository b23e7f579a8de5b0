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


@hookspec
def pytest_finetune_runners(config: pytest.Config) -> dict:
    """Your own runners by name, for ``finetune_run(runner="name")`` and baselines::

        def pytest_finetune_runners(config):
            return {"weighted": WeightedLossTrainer, "my-loop": train_my_way}

    A value is a ``transformers.Trainer`` subclass, a ``@trainer_factory`` function, or a
    training function ``fn(run)`` (``pytest_finetune.runs.user_loop.LoopRun``). Called once,
    when every conftest.py is loaded; a bad one stops the session with one line.
    """


@hookspec
def pytest_finetune_tasks(config: pytest.Config) -> dict:
    """Your own tasks by name (``finetune_run(task="name")``, ``--finetune-task name``)::

        def pytest_finetune_tasks(config):
            return {"tickets": TextClassification("tickets", train=..., validation=...)}
    """
