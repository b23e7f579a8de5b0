"""Known upstream issues as data: the table's ranges, and what the plugin makes of an entry.

Inside an entry's range an explained check is a strict xfail naming the entry; outside it
the check runs as any other. The pytester tests show both as a user's session sees them,
with entries on ``pytest`` itself (whose installed version is known to be >= 8).
"""
import json
import re
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from pytest_finetune.compat import known_issues as table
from pytest_finetune.compat.known_issues import KNOWN_ISSUES, KnownIssue, issues_explaining, known_issue
from pytest_finetune.errors import ConfigError

pytest_plugins = ["pytester"]

# The checks an entry names live in the guard suite (shipped) or in this repo's tests.
TESTS = (Path(__file__).parent.parent / "pytest_finetune" / "guard", Path(__file__).parent)
GA_CHECK = "tests/test_parity.py::test_trainer_gradient_accumulation_equals_large_batch"


def test_ga_entry_covers_the_measured_releases():
    issue = known_issue("transformers-47688")
    assert issue.url == "https://github.com/huggingface/transformers/issues/47688"
    for broken in ("5.0.0", "5.12.1", "5.24.0", "5.25.0.dev0", "6.0.0rc1"):
        assert issue.applies(broken), broken
    for fine in ("4.57.6", "4.46.3"):
        assert not issue.applies(fine), fine
    assert issues_explaining(GA_CHECK) == [issue]


def test_an_entry_never_applies_to_a_package_that_is_not_installed():
    issue = KnownIssue(id="x-1", package="no-such-distribution-pytest-finetune", affected=SpecifierSet(">=0"),
                       url="https://example.invalid/1", title="t", checks=())
    assert not issue.applies()
    assert not issue.applies("not a version")
    assert issue.applies("1.0")


def test_checks_match_by_the_end_of_the_node_id():
    issue = KnownIssue(id="x-1", package="pytest", affected=SpecifierSet(">=0"), url="u", title="t",
                       checks=("test_a.py::test_one", "test_b.py::test_two[loop]"))
    assert issue.explains("test_a.py::test_one")
    assert issue.explains("tests/test_a.py::test_one")
    assert issue.explains("../site-packages/pkg/test_a.py::test_one[trainer]")  # all parameters
    assert issue.explains("tests/test_b.py::test_two[loop]")
    assert not issue.explains("tests/test_b.py::test_two[trainer]")  # only the one named
    assert not issue.explains("tests/other_test_a.py::test_one")
    assert not issue.explains("tests/test_a.py::test_one_more")


def test_an_unknown_id_names_the_known_ones():
    with pytest.raises(ConfigError, match=r"'nope' is not in .*known: transformers-47688"):
        known_issue("nope")


def test_every_entry_is_well_formed_and_its_checks_exist():
    assert len({issue.id for issue in KNOWN_ISSUES}) == len(KNOWN_ISSUES)
    for issue in KNOWN_ISSUES:
        assert re.fullmatch(r"[a-z0-9_.-]+-\d+", issue.id), issue.id
        assert issue.url.startswith("https://"), issue.id
        assert str(issue.affected) and issue.title and issue.checks and issue.evidence
        for check in issue.checks:
            file, name = check.split("::")
            source = next((folder / file).read_text() for folder in TESTS if (folder / file).is_file())
            assert f"def {name.split('[')[0]}(" in source, f"{issue.id}: {check} names no test here"
        json.dumps(issue.to_dict())


INNER = """
import pytest

def test_inside_fails():
    assert 1 == 2, "the known bug"

def test_inside_passes():
    pass

def test_inside_crashes():
    raise TypeError("the harness broke, not the known bug")

def test_outside_passes():
    pass

def test_outside_fails():
    assert 1 == 2, "a real regression"

@pytest.mark.finetune_known_issue("pytest-inside")
def test_marked_fails():
    assert False

def test_unexplained():
    pass
"""


@pytest.fixture
def inner_table(monkeypatch):
    """Two entries on pytest itself: one whose range holds the installed pytest, one not."""
    inside = KnownIssue(id="pytest-inside", package="pytest", affected=SpecifierSet(">=8"),
                        url="https://example.invalid/inside", title="inside its range",
                        checks=("test_inner.py::test_inside_fails", "test_inner.py::test_inside_passes",
                                "test_inner.py::test_inside_crashes"))
    outside = KnownIssue(id="pytest-outside", package="pytest", affected=SpecifierSet("<1"),
                         url="https://example.invalid/outside", title="outside its range",
                         checks=("test_inner.py::test_outside_passes", "test_inner.py::test_outside_fails"))
    monkeypatch.setattr(table, "KNOWN_ISSUES", (inside, outside))
    return inside, outside


@pytest.mark.slow
def test_explained_checks_xfail_inside_the_range_and_run_normally_outside(pytester, inner_table):
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest("-p", "no:randomly", "-rxX", "--finetune-report", "report.json")
    result.assert_outcomes(passed=2, failed=3, xfailed=2)
    report = json.loads((pytester.path / "report.json").read_text())
    outcomes = {nodeid.split("::")[1]: entry for nodeid, entry in report["tests"].items()}
    assert {name: entry["outcome"] for name, entry in outcomes.items()} == {
        "test_inside_fails": "xfailed", "test_inside_passes": "failed", "test_inside_crashes": "failed",
        "test_outside_passes": "passed", "test_outside_fails": "failed", "test_marked_fails": "xfailed",
        "test_unexplained": "passed"}
    # what the check said, then the entry that expected it
    assert outcomes["test_inside_fails"]["message"].startswith("AssertionError: the known bug")
    assert "(expected: known upstream issue pytest-inside (pytest " in outcomes["test_inside_fails"]["message"]
    assert "https://example.invalid/inside" in outcomes["test_inside_fails"]["message"]
    assert "XPASS(strict)" in outcomes["test_inside_passes"]["message"]  # fixed upstream: end the range
    assert "TypeError" in outcomes["test_inside_crashes"]["message"]  # not masked by the xfail
    assert "a real regression" in outcomes["test_outside_fails"]["message"]

    version = pytest.__version__
    records = {record["id"]: record for record in report["known_issues"]}
    assert records["pytest-inside"]["applies"] is True and records["pytest-inside"]["installed"] == version
    assert records["pytest-outside"]["applies"] is False
    assert {c["nodeid"].split("::")[1]: c["outcome"] for c in records["pytest-outside"]["checks_run"]} == {
        "test_outside_passes": "passed", "test_outside_fails": "failed"}
    assert records["pytest-inside"]["url"] == "https://example.invalid/inside"

    summary = [line for line in result.outlines if line.startswith("known upstream issue ")]
    assert len(summary) == 1, summary  # only the entry that applied
    assert summary[0].startswith(f"known upstream issue pytest-inside: pytest {version} (affected >=8) "
                                 "https://example.invalid/inside")
    assert "test_inner.py::test_marked_fails (xfailed)" in summary[0]


@pytest.mark.slow
def test_an_unknown_id_on_the_marker_is_a_usage_error(pytester):
    pytester.makepyfile(test_inner="""
        import pytest

        @pytest.mark.finetune_known_issue("no-such-issue")
        def test_x():
            pass
    """)
    result = pytester.runpytest("-p", "no:randomly")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_inner.py::test_x: known issue 'no-such-issue' is not in "
                                 "pytest-finetune's table (known: transformers-47688, transformers-39241)*"])


def test_the_upgrade_docs_list_every_known_issue():
    docs = (Path(__file__).parent.parent / "docs" / "upgrades.md").read_text()
    for issue in KNOWN_ISSUES:
        assert f"`{issue.id}`" in docs and issue.url in docs, f"docs/upgrades.md's table lacks {issue.id}"
