"""The run factory: each configuration trains once per session, however many tests ask.

A failed run is remembered as a failure, not retried and never handed out as a result,
so one broken configuration fails its tests quickly instead of training again per test.
"""
from __future__ import annotations

from typing import Any, Callable

import pytest

from pytest_finetune.plugin.availability import require_data
from pytest_finetune.errors import FinetuneError
from pytest_finetune.runs import RunConfig, RunResult
from pytest_finetune.runs.config import session_run_config
from pytest_finetune.config.settings import FinetuneSettings
from pytest_finetune.plugin.failures import one_line_failure
from pytest_finetune.plugin.registrations import registry_of
from pytest_finetune.plugin.stash import PROGRESS, run_cache_of
from pytest_finetune.runs.runners import bind
from pytest_finetune.runs.progress import Progress


def execute_run(config: RunConfig, cache_dir: str | None = None, progress: Progress | None = None,
                verbose: bool = False, registry: Any = None) -> RunResult:
    """Train ``config``; the runners (torch, transformers, accelerate) load on first use."""
    from pytest_finetune.runs.execute import execute_run as run

    return run(config, cache_dir=cache_dir, progress=progress, verbose=verbose, registry=registry)


class _FailedRun:
    def __init__(self, message: str) -> None:
        self.message = message


def get_run(config: pytest.Config, settings: FinetuneSettings, run_config: RunConfig) -> RunResult:
    cache = run_cache_of(config)
    key = run_config.key()
    if key not in cache:
        require_data(run_config.data, settings.ci_require_data)
        config.hook.pytest_finetune_run_started(config=config, run_config=run_config)
        try:
            # Lines through the terminal reporter; transformers' load reports only with -v.
            cache[key] = execute_run(run_config, cache_dir=settings.cache_dir, progress=config.stash.get(PROGRESS, None),
                                     verbose=(config.getoption("verbose", 0) or 0) > 0,
                                     registry=registry_of(config))
        except FinetuneError as exc:
            cache[key] = _FailedRun(str(exc))
        except Exception as exc:
            cache[key] = _FailedRun(f"{type(exc).__name__}: {exc}")
            raise
    found = cache[key]
    if isinstance(found, _FailedRun):
        task = "" if run_config.task == "mrpc" else f" on task {run_config.task}"
        pytest.fail(f"run {run_config.runner}/{run_config.profile}{task} failed: {found.message}",
                    pytrace=False)
    return found


def _run_config(config: pytest.Config, settings: FinetuneSettings, runner: Any, profile: str,
                task: Any = None, **overrides: Any) -> RunConfig:
    with one_line_failure():
        bound = bind(registry_of(config), runner, settings.task if task is None else task,
                     overrides.pop("data", settings.data))
        return session_run_config(settings, bound.pop("runner"), profile, **bound, **overrides)


@pytest.fixture(scope="session")
def finetune_run(pytestconfig: pytest.Config, finetune_settings: FinetuneSettings) -> Callable[..., RunResult]:
    """Factory: ``finetune_run(runner="trainer", profile="tiny", task=None, **overrides)``.

    ``runner``: ``trainer``, ``loop``, a registered name, a dotted path ``module:attr``, or
    your ``Trainer`` subclass or training function itself; ``task``: the session's
    (``--finetune-task``, default ``mrpc``) unless given, named the same ways; ``profile``:
    tiny, full or gpu; ``overrides``: any ``RunConfig`` field. Returns a RunResult;
    identical configurations share one training run per session.
    """

    def run(runner: Any = "trainer", profile: str = "tiny", task: Any = None, **overrides: Any) -> RunResult:
        return get_run(pytestconfig, finetune_settings,
                       _run_config(pytestconfig, finetune_settings, runner, profile, task, **overrides))

    return run
