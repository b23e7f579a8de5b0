"""Skip or fail when the MRPC data cannot be had, depending on where we run.

On a developer's machine without the data, data tests skip with the option to set. A
project that opts in (ini ``finetune_ci_require_data``) fails instead under ``CI=true``: a
wrong path must never turn its CI green. Opt-in, because CI=true is set for every GitHub
Actions job, including those of projects that merely have the plugin installed.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_finetune.config.options import truthy
from pytest_finetune.mrpc.sources import DATA_HINT, HUB_SOURCE, hub_reachable



def in_ci() -> bool:
    return truthy(os.environ.get("CI", ""))


def data_unavailable_reason(source: str) -> str | None:
    """Why MRPC cannot be loaded from ``source``, or None when it looks loadable."""
    if source == HUB_SOURCE:
        if hub_reachable():
            return None
        return f"MRPC data not configured and the Hub is unreachable; {DATA_HINT}"
    if not Path(source).expanduser().is_dir():
        return f"MRPC folder {source} does not exist; {DATA_HINT}"
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
