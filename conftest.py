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

The ``slow`` marker is this repo's policy, not the plugin's: tests that start an inner
pytest session (``pytester``) or another process (``subprocess``: the CLI, xdist workers)
cost seconds each and stay out of the fast tier that runs on every pull request
(``-m "not full and not gpu and not slow"``, target < 60 s on 2 cores, timed by
``benchmarks/fast_tier.py``). The full run
(``python -m pytest``) includes them. A test that starts one without the marker fails
collection with one line naming it, so the fast tier cannot slow down unnoticed.
"""
from __future__ import annotations

import inspect
import os
import re
from pathlib import Path

import pytest

from pytest_finetune.plugin.availability import in_ci
import pytest_finetune.runs.execute  # noqa: F401  (see above: load torch & co. once, outside pytester)

_DATA_ENV = "PYTEST_FINETUNE_MRPC_DIR"
if os.environ.get(_DATA_ENV) and not os.path.isabs(os.environ[_DATA_ENV]):
    os.environ[_DATA_ENV] = os.path.abspath(os.environ[_DATA_ENV])

_bad_skips: list[str] = []
_ROOT = Path(__file__).resolve().parent
# Source text that starts another process (pytester's runpytest_subprocess uses pytester).
_PROCESS_WORDS = re.compile(r"\b(subprocess|multiprocessing|os\.system|os\.spawn\w*)\b")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: starts an inner pytest session or a subprocess; left out of the fast "
                   "tier (-m \"not full and not gpu and not slow\"), run by the full command")


def _starts_processes(item: pytest.Item) -> str | None:
    """Why ``item`` belongs in the slow tier (``pytester`` or process-starting code), or None.

    Reads the source of the test function and of every fixture it uses that lives in this
    repository, so a fixture that runs ``subprocess`` makes each test using it slow too.
    """
    names = getattr(item, "fixturenames", ())
    if "pytester" in names or "testdir" in names:
        return "uses pytester"
    functions = [getattr(item, "function", None)]
    info = getattr(item, "_fixtureinfo", None)
    for defs in (info.name2fixturedefs.values() if info else ()):
        functions += [d.func for d in defs]
    for func in functions:
        try:
            path = Path(inspect.getsourcefile(func) or "").resolve()
            if _ROOT not in path.parents or ".venv" in path.parts:
                continue
            found = _PROCESS_WORDS.search(inspect.getsource(func))
        except (OSError, TypeError):
            continue
        if found:
            return f"{func.__name__} uses {found.group(0)}"
    return None


@pytest.hookimpl(tryfirst=True)  # before -m deselects: the check covers every collected test
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = [f"{item.nodeid}: not marked slow but {why} (add @pytest.mark.slow)"
                for item in items if item.get_closest_marker("slow") is None
                and (why := _starts_processes(item))]
    if unmarked:
        raise pytest.UsageError("\n".join(unmarked))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and "gpu" not in report.keywords and not hasattr(report, "wasxfail"):
        _bad_skips.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if in_ci() and _bad_skips:
        session.config.pluginmanager.get_plugin("terminalreporter").write_line(
            "CI=true: these tests skipped but only gpu tests may skip:\n  " + "\n  ".join(_bad_skips),
            red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
