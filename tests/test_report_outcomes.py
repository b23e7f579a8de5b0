"""The --finetune-report JSON carries every test's outcome, as a user's session produces it.

``pytest-finetune upgrade`` compares two such reports check by check, so the outcome words
(xfail included) and the one-line messages must be what pytest itself decided.
"""
import json

import pytest

from pytest_finetune.baselines.outcome import Outcome
from pytest_finetune.report.session import SessionReport

pytest_plugins = ["pytester"]

CHECKS = """
import pytest

@pytest.fixture
def broken():
    raise RuntimeError("fixture exploded")

def test_ok():
    pass

def test_bad():
    assert 1 == 2, "one is not two"

@pytest.mark.xfail(strict=True, reason="known upstream bug")
def test_known():
    assert False

@pytest.mark.xfail(strict=True, reason="fixed upstream?")
def test_strict_xpass():
    pass

def test_skipped():
    pytest.skip("no GPU here")

def test_setup_error(broken):
    pass
"""


@pytest.mark.slow
def test_report_holds_each_tests_outcome_and_message(pytester):
    pytester.makepyfile(test_checks=CHECKS)
    result = pytester.runpytest("--finetune-report", "out/report.json", "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=2, xfailed=1, skipped=1, errors=1)
    report = json.loads((pytester.path / "out/report.json").read_text())
    tests = {nodeid.split("::")[1]: entry for nodeid, entry in report["tests"].items()}
    assert {name: entry["outcome"] for name, entry in tests.items()} == {
        "test_ok": "passed", "test_bad": "failed", "test_known": "xfailed",
        "test_strict_xpass": "failed", "test_skipped": "skipped", "test_setup_error": "error"}
    assert "one is not two" in tests["test_bad"]["message"]
    # what the check said, then why it was expected to fail
    assert tests["test_known"]["message"] == "assert False (expected: known upstream bug)"
    assert "XPASS(strict)" in tests["test_strict_xpass"]["message"]
    assert tests["test_skipped"]["message"] == "no GPU here"
    assert "fixture exploded" in tests["test_setup_error"]["message"]
    assert report["versions"]["transformers"] not in ("", "not installed")


def test_the_session_outcome_tells_a_moved_record_from_a_regression():
    report = SessionReport()
    report.tests = {"t.py::record": {"outcome": "failed"}, "t.py::shapes": {"outcome": "passed"}}
    report.comparisons = {"s": {"nodeid": "t.py::record", "outcome": "changed", "rows": []}}
    assert report.outcome() is Outcome.CHANGED
    report.tests["t.py::shapes"]["outcome"] = "failed"
    assert report.outcome() is Outcome.REGRESSION
    report.tests = {"t.py::record": {"outcome": "passed"}}
    report.comparisons["s"]["outcome"] = "safe"
    assert report.outcome() is Outcome.SAFE
