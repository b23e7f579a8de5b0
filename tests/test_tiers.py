"""The repo's tier policy: a test that starts a pytest session or a process must be marked slow.

The fast tier (``-m "not full and not gpu and not slow"``) has to stay under 60 s on 2
cores; these check that ``conftest.py`` stops an unmarked one at collection, naming it.
"""
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO_CONFTEST = Path(__file__).resolve().parent.parent / "conftest.py"

UNMARKED = """
import subprocess, sys
import pytest

@pytest.fixture
def child():
    return subprocess.run([sys.executable, "-c", "print(1)"], capture_output=True).stdout

def test_runs_a_child(child):
    assert child

def test_inner_session(pytester):
    pytester.runpytest("--version")

def test_plain():
    assert True
"""


def _project(pytester, source):
    # The repo conftest read in place: its `_ROOT` is then the pytester folder, as for the repo.
    pytester.makeconftest(REPO_CONFTEST.read_text())
    pytester.makepyfile(test_policy=source)
    pytester.makeini("[pytest]\naddopts = -p pytester -p no:randomly -p no:cacheprovider\n")
    return pytester


@pytest.mark.slow
def test_unmarked_process_tests_fail_collection_naming_each(pytester):
    result = _project(pytester, UNMARKED).runpytest("--collect-only", "-m", "not slow")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        "*test_policy.py::test_runs_a_child: not marked slow but child uses subprocess (add @pytest.mark.slow)",
        "test_policy.py::test_inner_session: not marked slow but uses pytester (add @pytest.mark.slow)",
    ])
    assert "test_plain" not in result.stderr.str()


@pytest.mark.slow
def test_marked_process_tests_are_collected_and_deselectable(pytester):
    marked = UNMARKED.replace("def test_runs", "@pytest.mark.slow\ndef test_runs").replace(
        "def test_inner", "@pytest.mark.slow\ndef test_inner")
    result = _project(pytester, marked).runpytest("-m", "not slow", "--strict-markers")
    result.assert_outcomes(passed=1, deselected=2)


def test_readme_fast_command_is_the_one_the_benchmark_times():
    from benchmarks.fast_tier import FAST_TIER

    readme = (REPO_CONFTEST.parent / "README.md").read_text(encoding="utf-8")
    assert f'`python -m pytest -m "{FAST_TIER}"`' in readme, (
        f"README.md's fast-tier command no longer selects {FAST_TIER!r}, which benchmarks/fast_tier.py times")
