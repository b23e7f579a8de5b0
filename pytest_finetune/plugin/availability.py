"""Skip or fail when the MRPC data cannot be had, depending on where we run.

Only one situation skips: nothing configured (the ``hub`` default) and the Hub unreachable,
on a developer's machine; data tests then skip with the option to set. A project that opts
in (ini ``finetune_ci_require_data``) fails instead under ``CI=true``: a wrong setup must
never turn its CI green. Opt-in, because CI=true is set for every GitHub Actions job,
including those of projects that merely have the plugin installed. A folder the user named
is never a reason to skip: a missing one is a usage error when the session starts (see
``config.options``), and a broken one fails the tests that load it.
"""
from __future__ import annotations

import os

import pytest

from pytest_finetune.config.options import truthy
from pytest_finetune.mrpc.sources import DATA_HINT, HUB_SOURCE, hub_reachable


def in_ci() -> bool:
    return truthy(os.environ.get("CI", ""))


def data_unavailable_reason(source: str) -> str | None:
    """Why MRPC from ``source`` may be skipped (only: the Hub default, offline), else None."""
    if source == HUB_SOURCE and not hub_reachable():
        return f"MRPC data not configured and the Hub is unreachable; {DATA_HINT}"
    return None


def require_data(source: str, ci_strict: bool = False) -> str:
    """``source`` when MRPC can be loaded from it; else skip, or fail where the user opted
    into failing (``ci_strict``: the ``finetune_ci_require_data`` setting) and CI=true."""
    reason = data_unavailable_reason(source)
    if reason is None:
        return source
    if ci_strict and in_ci():
        pytest.fail(f"{reason} (CI=true and finetune_ci_require_data: data tests may not skip)",
                    pytrace=False)
    pytest.skip(reason)
