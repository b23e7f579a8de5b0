"""Repository policy for this repo's own test run.

In CI (CI=true) only ``gpu`` tests may skip: any other skip means a path or install is
wrong, so the session fails instead of going green with tests that never ran.
"""
from __future__ import annotations

import os

import pytest

_bad_skips: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and "gpu" not in report.keywords and not hasattr(report, "wasxfail"):
        _bad_skips.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"} and _bad_skips:
        session.config.pluginmanager.get_plugin("terminalreporter").write_line(
            "CI=true: these tests skipped but only gpu tests may skip:\n  " + "\n  ".join(_bad_skips),
            red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
