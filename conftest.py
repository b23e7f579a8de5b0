"""Repository policy for this repo's own test run.

In CI (CI=true) only ``gpu`` tests may skip: any other skip means a path or install is
wrong, so the session fails instead of going green with tests that never ran.

A relative ``PYTEST_FINETUNE_MRPC_DIR`` (the README and ``.ci/run`` use
``../shared/data/mrpc``) is made absolute here, once, from the directory pytest was started
in: the pytester and subprocess sessions these tests start run in temporary folders, where
the relative path would point nowhere and their data tests would skip.

The ML stack is imported here, before any test runs. The plugin itself imports it lazily,
but pytester's in-process sessions remove every module first imported inside them when
they end; torch imported inside one such session and again inside the next crashes the
interpreter (a C extension cannot be initialised twice). Anyone testing a plugin that trains
with ``pytester.runpytest()`` needs the same line in their conftest.
"""
from __future__ import annotations

import os

import pytest

from pytest_finetune.plugin.availability import in_ci
import pytest_finetune.runs.execute  # noqa: F401  (see above: load torch & co. once, outside pytester)

_DATA_ENV = "PYTEST_FINETUNE_MRPC_DIR"
if os.environ.get(_DATA_ENV) and not os.path.isabs(os.environ[_DATA_ENV]):
    os.environ[_DATA_ENV] = os.path.abspath(os.environ[_DATA_ENV])

_bad_skips: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: starts inner pytest sessions or subprocesses "
                                       "(deselect with -m 'not slow'; CI's full run includes them)")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and "gpu" not in report.keywords and not hasattr(report, "wasxfail"):
        _bad_skips.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if in_ci() and _bad_skips:
        session.config.pluginmanager.get_plugin("terminalreporter").write_line(
            "CI=true: these tests skipped but only gpu tests may skip:\n  " + "\n  ".join(_bad_skips),
            red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
