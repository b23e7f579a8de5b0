"""The upgrade verdict from two synthetic guard-suite reports: no environment is built.

Reports without side-by-side runs (``results`` empty) judge checks, drift and each side's
seed-band rows; the tests of ``test_upgrade_outcomes.py`` add the same-seed runs and the
seeds behind SAFE / CHANGED / REGRESSION.
"""
import copy
import json

import pytest

from pytest_finetune.baselines.outcome import Outcome
from pytest_finetune.upgrade.verdict import build_verdict, check_id, classify

GA = "test_trainer_gradient_accumulation_equals_large_batch"
VERSIONS_OLD = {"python": "3.11.7", "torch": "2.13.0+cpu", "transformers": "4.57.6", "tokenizers": "0.22.1"}
VERSIONS_NEW = {"python": "3.11.7", "torch": "2.13.0+cpu", "transformers": "5.24.0", "tokenizers": "0.23.3"}


def _row(scenario, metric, baseline, now, verdict, allowed=">= 0.7000"):
    return {"scenario": scenario, "metric": metric, "baseline": baseline, "now": now,
            "allowed": allowed, "verdict": verdict}


def _report(versions, ga="passed", ga_message="", trainer_acc=0.75, trainer_verdict="ok",
            per_example=("a", "b", "c"), logits=((0.1, -0.2),), root="tests"):
    scenario = "mrpc-m-trainer-tiny-cpu-fp32"
    return {
        "versions": versions,
        "tests": {
            f"{root}/test_parity.py::{GA}": {"outcome": ga, "message": ga_message, "duration": 1.0},
            f"{root}/test_parity.py::test_loop_gradient_accumulation_equals_large_batch":
                {"outcome": "passed", "message": "", "duration": 1.0},
            f"{root}/test_gpu.py::test_gpu_run": {"outcome": "skipped", "message": "no CUDA", "duration": 0.0},
            f"{root}/test_runs_tiny.py::test_tiny[trainer]": {
                "outcome": "passed" if trainer_verdict != "FAIL" else "failed",
                "message": "" if trainer_verdict != "FAIL" else "accuracy: baseline 0.7500, now 0.6000",
                "duration": 3.0},
        },
        "fingerprints": {
            "tokenized_validation": {"name": "tokenized_validation", "value": {
                "examples": len(per_example), "sha256": "".join(per_example), "per_example": list(per_example)},
                "atol": 0.0, "drifted": False, "detail": None},
            "initial_logits": {"name": "initial_logits", "value": [list(r) for r in logits], "atol": 1e-4,
                               "drifted": False, "detail": None},
        },
        "comparisons": {scenario: {"scenario": scenario, "passed": trainer_verdict != "FAIL", "rows": [
            _row(scenario, "accuracy", 0.75, trainer_acc, trainer_verdict),
            _row(scenario, "loss curve (max |dev|)", 0.0, 0.01, "ok", "in band")]}},
        "results": {},
    }


class Issue:
    """The shape of an entry of pytest_finetune.compat.known_issues."""
    id = "transformers-47688"
    package = "transformers"
    url = "https://github.com/huggingface/transformers/issues/47688"

    def applies(self, version=None):
        return int(version.split(".")[0]) >= 5

    def explains(self, nodeid):
        return nodeid.endswith(f"test_parity.py::{GA}")


def test_same_reports_are_safe():
    report = _report(VERSIONS_OLD)
    verdict = build_verdict(report, copy.deepcopy(report))
    assert verdict.exit_code() == 0
    assert verdict.checks == [] and verdict.drift == []
    assert [m.kind for m in verdict.metrics] == ["noise", "noise"]
    assert verdict.unchanged == 4 and verdict.outcome is Outcome.SAFE
    assert verdict.text().startswith("pytest-finetune upgrade: SAFE")
    assert any("test_gpu.py::test_gpu_run was skipped on both sides" in note for note in verdict.notes)


def test_noise_inside_the_band_is_not_a_regression():
    old = _report(VERSIONS_OLD, trainer_acc=0.75)
    new = _report(VERSIONS_NEW, trainer_acc=0.72)  # lower, but compare() said "ok"
    verdict = build_verdict(old, new)
    assert verdict.exit_code() == 0
    assert verdict.metrics[0].kind == "noise" and verdict.metrics[0].new == 0.72
    assert "transformers" in verdict.text() and "5.24.0" in verdict.markdown()


def test_ga_regression_is_named_with_its_known_upstream_issue():
    old = _report(VERSIONS_OLD, ga="passed")
    new = _report(VERSIONS_NEW, ga="xfailed", ga_message="Trainer GA inflates the loss")
    verdict = build_verdict(old, new, known_issues=[Issue()])
    assert verdict.exit_code() == 1
    (change,) = verdict.checks
    assert (change.check, change.old, change.new, change.kind) == (f"test_parity.py::{GA}", "passed",
                                                                   "xfailed", "regression")
    assert change.known_issue == Issue.id
    (match,) = verdict.known_issues
    assert (match.on_old, match.on_new) == (False, True)
    text = verdict.text()
    assert f"test_parity.py::{GA}  passed  xfailed  regression  {Issue.id}" in text
    assert Issue.url in text and "introduced by the upgrade" in text
    assert verdict.to_dict()["verdict"] == "regression"


def test_known_issue_outside_its_range_is_not_matched():
    old = _report(VERSIONS_OLD, ga="failed")
    new = _report({**VERSIONS_NEW, "transformers": "4.58.0"}, ga="failed")
    verdict = build_verdict(old, new, known_issues=[Issue()])
    assert verdict.known_issues == []
    # Failing on both sides is not caused by the upgrade, but never safe (issue 20): exit 1.
    assert verdict.outcome is Outcome.FAILING and verdict.exit_code() == 1
    assert [c.check for c in verdict.failing_on_both] == [f"test_parity.py::{GA}"]
    assert verdict.headline().startswith("FAILING: 1 check(s) fail on both sides")


def test_metric_below_band_on_new_only_is_a_regression():
    old = _report(VERSIONS_OLD)
    new = _report(VERSIONS_NEW, trainer_acc=0.60, trainer_verdict="FAIL")
    verdict = build_verdict(old, new)
    assert verdict.exit_code() == 1
    assert verdict.metrics[0].kind == "regression"
    assert [c.check for c in verdict.checks] == ["test_runs_tiny.py::test_tiny[trainer]"]
    assert "accuracy: baseline 0.7500, now 0.6000" in verdict.text()


def test_fixed_on_new_is_an_improvement_not_a_regression():
    old = _report(VERSIONS_OLD, ga="failed", trainer_acc=0.6, trainer_verdict="FAIL")
    new = _report(VERSIONS_NEW)
    verdict = build_verdict(old, new)
    assert verdict.exit_code() == 0
    assert {c.kind for c in verdict.checks} == {"improvement"}
    assert verdict.metrics[0].kind == "improvement"


def test_tokenizer_drift_names_the_first_differing_example_as_text():
    old = _report(VERSIONS_OLD, per_example=("a", "b", "c"))
    new = _report(VERSIONS_NEW, per_example=("a", "B", "C"))
    new["fingerprints"]["tokenized_validation"]["drifted"] = True
    texts = ["first pair", "Second sentence . || Its paraphrase .", "third"]
    verdict = build_verdict(old, new, example_text=texts.__getitem__)
    assert verdict.exit_code() == 1
    (drift,) = verdict.drift
    assert drift.name == "tokenized_validation"
    assert (drift.old_vs_stored, drift.new_vs_stored) == ("matches", "drifted")
    assert drift.detail == "first differing example: validation idx 1: Second sentence . || Its paraphrase ."
    assert "Second sentence" in verdict.markdown()


def test_logits_within_tolerance_are_not_drift_beyond_it_are():
    old = _report(VERSIONS_OLD, logits=((0.1, -0.2),))
    assert build_verdict(old, _report(VERSIONS_NEW, logits=((0.10005, -0.2),))).drift == []
    (drift,) = build_verdict(old, _report(VERSIONS_NEW, logits=((0.3, -0.2),))).drift
    assert drift.name == "initial_logits" and "max |diff| 2.00e-01" in drift.detail


def test_checks_from_different_folders_are_the_same_check():
    old = _report(VERSIONS_OLD, root="tests")
    new = _report(VERSIONS_NEW, root="/env/new/lib/python3.11/site-packages/pytest_finetune/guard")
    verdict = build_verdict(old, new)
    assert verdict.checks == [] and verdict.exit_code() == 0
    assert check_id("a/b/test_x.py::test_y[1]") == "test_x.py::test_y[1]"


@pytest.mark.parametrize("old, new, kind", [
    ("passed", "failed", "regression"), ("passed", "xfailed", "regression"),
    ("passed", "skipped", "regression"), ("passed", "not run", "regression"),
    ("skipped", "failed", "regression"), ("xfailed", "failed", "regression"),
    ("failed", "failed", "failing on both"), ("error", "failed", "failing on both"),
    ("failed", "passed", "improvement"), ("xfailed", "xpassed", "improvement"),
    ("xfailed", "skipped", "changed"), ("passed", "passed", None), ("skipped", "skipped", None),
])
def test_outcome_classification(old, new, kind):
    assert classify(old, new) == kind


def test_json_and_markdown_hold_versions_and_specs():
    verdict = build_verdict(_report(VERSIONS_OLD), _report(VERSIONS_NEW, ga="xfailed"),
                            requirements={"old": ["transformers==4.57.6"], "new": ["transformers==5.24.0"]})
    data = json.loads(verdict.to_json())
    assert data["exit_code"] == 1 and data["outcome"] == "regression" and data["versions"]["old"]["transformers"] == "4.57.6"
    assert data["requirements"]["new"] == ["transformers==5.24.0"]
    markdown = verdict.markdown()
    assert markdown.startswith("## pytest-finetune upgrade: regression")
    assert "| transformers | 4.57.6 | 5.24.0 | changed |" in markdown


def test_known_issue_on_both_sides_is_named_but_not_a_regression():
    old = _report({**VERSIONS_OLD, "transformers": "5.0.0"}, ga="xfailed")
    new = _report(VERSIONS_NEW, ga="xfailed")
    verdict = build_verdict(old, new, known_issues=[Issue()])
    assert verdict.exit_code() == 0 and verdict.checks == []
    (match,) = verdict.known_issues
    assert (match.on_old, match.on_new, match.versions) == (True, True, ["5.0.0", "5.24.0"])
    assert "applies on both sides" in verdict.text()


def test_upgrade_that_leaves_a_known_issue_behind_says_so():
    old = _report(VERSIONS_NEW, ga="xfailed")
    new = _report({**VERSIONS_NEW, "transformers": "4.57.6"}, ga="passed")
    verdict = build_verdict(old, new, known_issues=[Issue()])
    assert verdict.exit_code() == 0 and verdict.known_issues == []
    assert [c.kind for c in verdict.checks] == ["improvement"]
    assert any("transformers-47688" in note and "leaves it behind" in note for note in verdict.notes)


def test_the_ga_regression_from_4_57_to_5_x_names_the_real_table_entry():
    """The issue's must-show, on synthetic reports: GA parity holds on 4.57.6, xfails on 5.24.0."""
    from pytest_finetune.compat.known_issues import KNOWN_ISSUES

    root = "pytest_finetune/guard"
    old = _report(VERSIONS_OLD, ga="passed", root=root)
    new = _report(VERSIONS_NEW, ga="xfailed", root=root,
                  ga_message="known upstream issue transformers-47688 (transformers 5.24.0, affected >=5.0): ...")
    verdict = build_verdict(old, new, known_issues=KNOWN_ISSUES)
    assert verdict.exit_code() == 1
    (change,) = verdict.checks
    assert (change.old, change.new, change.known_issue) == ("passed", "xfailed", "transformers-47688")
    (match,) = verdict.known_issues
    assert match.url == "https://github.com/huggingface/transformers/issues/47688"
    assert (match.on_old, match.on_new, match.versions) == (False, True, ["4.57.6", "5.24.0"])
    assert "introduced by the upgrade" in verdict.text()
    assert verdict.regressions == [f"check test_parity.py::{GA}: passed on old, xfailed on new "
                                   "(known upstream issue transformers-47688)"]
    assert f"| [transformers-47688]({match.url}) |" in verdict.markdown()


def test_a_side_on_which_nothing_ran_gives_no_verdict():
    old = _report(VERSIONS_OLD)
    new = _report(VERSIONS_NEW)
    for entry in new["tests"].values():
        entry["outcome"] = "skipped"
    verdict = build_verdict(old, new)
    assert verdict.outcome is Outcome.FAILING and verdict.exit_code() == 1
    assert verdict.headline().startswith("FAILING: nothing was measured on new")
