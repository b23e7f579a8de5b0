"""``pytest-finetune bisect`` without building anything: the range, the findings, the search.

Each step is a stand-in that answers with the report a guard suite would write on that
side, so the halving, the skips, the package attribution and the judging of each kind of
finding are checked in milliseconds; ``tests/test_bisect_command.py`` runs the command.
"""
from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest
from packaging.version import Version

from factories import make_result
from pytest_finetune.upgrade.bisect import (NOTHING, BisectResult, Bisection, Change, Finding, between,
                                            changes_between, findings_of, release_notes, released_versions,
                                            selection, shows)
from pytest_finetune.upgrade.progress import Progress
from pytest_finetune.upgrade.specs import Side, UpgradeInputError
from pytest_finetune.upgrade.verdict import build_verdict

GA = "test_parity.py::test_trainer_gradient_accumulation_equals_large_batch"
RELEASES = ["4.57.5", "4.57.6", "5.0.0", "5.1.0", "5.2.0", "5.3.0", "5.4.0", "5.5.0", "5.6.0", "5.7.0", "5.8.0",
            "5.9.0", "5.10.1", "5.11.0", "5.12.1", "5.13.0", "5.24.0", "5.25.0", "6.0.0rc1"]


def _side(label, *lines):
    return Side(label, tuple(sorted(lines + ("torch==2.13.0",), key=str.lower)))


def _report(outcome="passed", result=None, fingerprint="a"):
    report = {"tests": {f"pytest_finetune/guard/{GA}": {"outcome": outcome, "message": ""}},
              "fingerprints": {"initial_logits": {"value": fingerprint, "atol": 0.0, "nodeid": "x/test_drift.py::t"}},
              "results": {}, "comparisons": {}}
    if result is not None:
        report["results"]["s"] = result.to_dict()
    return report


class Steps:
    """A stand-in for the environments: transformers >= ``broken`` fails the GA check."""

    def __init__(self, broken="5.0.0", uninstallable=(), needs=None):
        self.broken, self.uninstallable, self.needs = Version(broken), set(uninstallable), needs
        self.calls = []

    def __call__(self, side, checks):
        pins = {line.split("==")[0]: line.split("==")[1] for line in side.requirements}
        self.calls.append((pins, list(checks)))
        if pins.get("transformers") in self.uninstallable:
            raise UpgradeInputError(f"--step-3 transformers=={pins['transformers']}: cannot be installed: "
                                    "Because transformers==X depends on tokenizers>=9 ...")
        bad = Version(pins["transformers"]) >= self.broken
        if self.needs:  # the finding shows only with this other pin moved too
            bad = bad and pins.get(self.needs[0]) == self.needs[1]
        return _report("xfailed" if bad else "passed")


def _bisection(steps, old=None):
    old = old or _side("old", "transformers==4.57.6")
    return Bisection(old, _report("passed"), steps, Progress(interval=1e9))


def _versions():
    change = Change("transformers", Version("4.57.6"), Version("5.24.0"), "transformers==4.57.6",
                    "transformers==5.24.0")
    return change, between([Version(v) for v in RELEASES], change)


def test_the_range_is_the_releases_after_the_old_pin_up_to_the_new_one():
    change, versions = _versions()
    assert str(versions[0]) == "5.0.0" and str(versions[-1]) == "5.24.0" and len(versions) == 15
    assert Version("4.57.6") not in versions and Version("5.25.0") not in versions


def test_halving_finds_the_first_bad_release_in_log2_steps():
    change, versions = _versions()
    steps = Steps(broken="5.0.0")
    finding = Finding("check", GA, "regression", "passed on old, xfailed on new", [GA])
    _bisection(steps).search(finding, change, versions, {})
    assert (finding.first_bad, finding.last_good) == ("transformers 5.0.0", "transformers 4.57.6")
    assert len(steps.calls) <= math.ceil(math.log2(len(versions)))
    assert finding.links == ["https://github.com/huggingface/transformers/releases/tag/v5.0.0",
                             "https://github.com/huggingface/transformers/releases/tag/v4.57.6"]
    assert finding.line().startswith(f"first bad: transformers 5.0.0 (last good transformers 4.57.6): {GA} — ")
    assert all(checks == [GA] for _, checks in steps.calls)  # each step runs only the check concerned


def test_a_first_bad_release_in_the_middle_is_found_with_its_last_good_neighbour():
    change, versions = _versions()
    finding = Finding("check", GA, "regression", "", [GA])
    _bisection(Steps(broken="5.9.0")).search(finding, change, versions, {})
    assert (finding.first_bad, finding.last_good) == ("transformers 5.9.0", "transformers 5.8.0")


def test_a_release_that_cannot_be_installed_is_skipped_with_the_reason_and_the_search_goes_on():
    change, versions = _versions()
    steps = Steps(broken="5.9.0", uninstallable={"5.9.0", "5.5.0"})
    finding = Finding("check", GA, "regression", "", [GA])
    bisection = _bisection(steps)
    bisection.search(finding, change, versions, {})
    assert (finding.first_bad, finding.last_good) == ("transformers 5.10.1", "transformers 5.8.0")
    skipped = [note for note in finding.notes if "skipped" in note]
    assert skipped and all("skipped: cannot be installed beside the held pins: Because transformers==X" in note
                           for note in skipped)
    assert any(s.verdicts[GA].startswith("skipped: ") for s in bisection.steps)


def test_the_package_whose_move_shows_the_finding_is_the_one_to_bisect():
    old = _side("old", "transformers==4.57.6", "datasets==3.0.0")
    changes = [Change("datasets", Version("3.0.0"), Version("5.2.0"), "datasets==3.0.0", "datasets==5.2.0"),
               Change("transformers", Version("4.57.6"), Version("5.24.0"), "transformers==4.57.6",
                      "transformers==5.24.0")]
    finding = Finding("check", GA, "regression", "", [GA])
    owners = _bisection(Steps(), old).attribute([finding], changes)
    assert [c.package for c in owners[GA]] == ["transformers"]


def test_a_finding_that_needs_two_packages_is_attributed_to_the_pair():
    old = _side("old", "transformers==4.57.6", "datasets==3.0.0")
    changes = [Change("datasets", Version("3.0.0"), Version("5.2.0"), "datasets==3.0.0", "datasets==5.2.0"),
               Change("transformers", Version("4.57.6"), Version("5.24.0"), "transformers==4.57.6",
                      "transformers==5.24.0")]
    finding = Finding("check", GA, "regression", "", [GA])
    owners = _bisection(Steps(needs=("datasets", "5.2.0")), old).attribute([finding], changes)
    assert [c.package for c in owners[GA]] == ["datasets", "transformers"]


@pytest.mark.parametrize("old, new, package, words", [
    (("transformers>=4.57",), ("transformers==5.24.0",), None, "--old: transformers>=4.57 is not one exact version"),
    (("transformers==5.24.0",), ("transformers==4.57.6",), None, "the old pin 5.24.0 is not older than the new pin"),
    (("transformers==4.57.6", "datasets==3.0.0"), ("transformers==5.24.0",), None, "--new: datasets is not named"),
    (("transformers==4.57.6",), ("transformers==5.24.0",), "datasets", "--package: datasets does not change"),
])
def test_a_range_that_cannot_be_bisected_is_one_line(old, new, package, words):
    with pytest.raises(UpgradeInputError, match=words.replace("(", r"\(").replace(")", r"\)")):
        changes_between(_side("old", *old), _side("new", *new), package)


def test_the_release_list_comes_from_the_index_and_an_unreachable_index_is_one_line():
    from pytest_finetune.upgrade.envs import IndexSettings

    listing = json.dumps({"name": "transformers", "versions": ["5.0.0", "4.57.6", "6.0.0rc1"]})
    seen = []

    def index(command):
        seen.append(command)
        return SimpleNamespace(returncode=0, stdout=listing, stderr="")

    sources = IndexSettings(find_links=["/wheels"])
    assert released_versions("transformers", sources, runner=index) == [Version("4.57.6"), Version("5.0.0")]
    assert "--find-links" in seen[0] and "/wheels" in seen[0]
    assert Version("6.0.0rc1") in released_versions("transformers", sources, pre=True, runner=index)

    def down(command):
        return SimpleNamespace(returncode=1, stdout="", stderr="ERROR: Could not fetch URL https://pypi.example/simple/")

    with pytest.raises(UpgradeInputError, match="cannot list the releases of transformers from the package index: "
                                                "Could not fetch URL"):
        released_versions("transformers", IndexSettings(index_url="https://pypi.example/simple"), runner=down)


def test_each_kind_of_finding_is_judged_with_the_verdicts_rules():
    check = Finding("check", GA, "regression", "", [GA])
    assert shows(check, _report("passed"), _report("xfailed"))[0] is True  # a known-issue xfail counts
    assert shows(check, _report("passed"), _report("passed"))[0] is False
    clean = make_result(runner="trainer")
    moved = make_result(runner="trainer", losses=[x + 1e-3 for x in clean.losses])
    run = Finding("run", "s", "changed", "", [])
    assert shows(run, _report(result=clean), _report(result=clean)) == (False, "same as old")
    bad, detail = shows(run, _report(result=clean), _report(result=moved))
    assert bad and "left the noise envelope first at step 1" in detail
    drift = Finding("fingerprint", "initial_logits", "changed", "", [])
    assert shows(drift, _report(fingerprint="a"), _report(fingerprint="b")) == (True, "differs from old")


def test_findings_come_from_the_upgrade_verdict():
    old, new = _report("passed"), _report("xfailed")
    verdict = build_verdict(old, new)
    (finding,) = findings_of(verdict, [old, new])
    assert (finding.kind, finding.key, finding.label, finding.checks) == ("check", GA, "regression", [GA])


def test_selection_picks_each_check_with_its_parameter():
    assert selection([GA, "test_tiny_runs.py::test_tiny_run_matches_baseline[trainer]"]) == (
        "test_trainer_gradient_accumulation_equals_large_batch or (test_tiny_run_matches_baseline and trainer)")


def test_a_range_where_nothing_changes_says_so_and_exits_0():
    result = BisectResult({"old": ["transformers==5.24.0"], "new": ["transformers==5.25.0"]}, [], [], "SAFE")
    assert result.headline() == f"{NOTHING} (SAFE)" and result.exit_code() == 0
    assert NOTHING in result.markdown() and json.loads(result.to_json())["exit_code"] == 0


def test_the_result_names_the_first_bad_release_with_its_notes_and_exits_like_upgrade():
    change, versions = _versions()
    finding = Finding("check", GA, "regression", "passed on old, xfailed on new", [GA])
    bisection = _bisection(Steps())
    bisection.search(finding, change, versions, {})
    result = BisectResult({"old": ["transformers==4.57.6"], "new": ["transformers==5.24.0"]}, [finding],
                          bisection.steps, "REGRESSION")
    assert result.exit_code() == 1
    assert "first bad: transformers 5.0.0 (last good transformers 4.57.6)" in result.text()
    assert "[release notes](https://github.com/huggingface/transformers/releases/tag/v5.0.0)" in result.markdown()
    changed = Finding("run", "s", "changed", "", [], first_bad="transformers 5.1.0", last_good="transformers 5.0.0")
    only_changes = BisectResult({}, [changed], [], "CHANGED")
    assert only_changes.exit_code() == 0 and only_changes.exit_code(fail_on_change=True) == 4
    assert release_notes("some-lib", "1.2") == "https://pypi.org/project/some-lib/1.2/"
