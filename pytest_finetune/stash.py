"""Per-session state kept on pytest's config, so fixtures and hooks share one copy."""
from __future__ import annotations

from typing import Any

import pytest

from .settings import FinetuneSettings

SETTINGS = pytest.StashKey[FinetuneSettings]()
RUN_CACHE = pytest.StashKey[dict]()
SESSION_LOG = pytest.StashKey[Any]()


def settings_of(config: pytest.Config) -> FinetuneSettings:
    return config.stash[SETTINGS]


def run_cache_of(config: pytest.Config) -> dict:
    return config.stash.setdefault(RUN_CACHE, {})
