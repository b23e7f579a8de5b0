"""Per-session state kept on pytest's config, so fixtures and hooks share one copy."""
from __future__ import annotations

from typing import Any

import pytest

from pytest_finetune.config.settings import FinetuneSettings

SETTINGS = pytest.StashKey[FinetuneSettings]()
RUN_CACHE = pytest.StashKey[dict]()
SESSION_LOG = pytest.StashKey[Any]()
RUN_ID = pytest.StashKey[str]()
PROGRESS = pytest.StashKey[Any]()  # plugin.progress.TerminalProgress: the runs' Progress callback
REGISTRY = pytest.StashKey[Any]()  # runs.runners.Registry: the session's runners and tasks


def settings_of(config: pytest.Config) -> FinetuneSettings:
    return config.stash[SETTINGS]


def run_cache_of(config: pytest.Config) -> dict:
    return config.stash.setdefault(RUN_CACHE, {})


def run_id_of(config: pytest.Config) -> str:
    """One id per pytest invocation, shared by its xdist workers."""
    if RUN_ID not in config.stash:
        import uuid

        worker = getattr(config, "workerinput", None)
        config.stash[RUN_ID] = worker["testrunuid"] if worker else uuid.uuid4().hex
    return config.stash[RUN_ID]
