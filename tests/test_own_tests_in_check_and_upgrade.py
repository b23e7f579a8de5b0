"""``check`` and ``upgrade`` run the user's own tests: the command lines they build, the one
report that holds both sessions, and how the verdict treats a moved run of the user's own
runner (judged by their tests, never escalated to seeds that only built-ins can train)."""
from __future__ import annotations

import argparse

import pytest

from factories import make_result
from pytest_finetune.cli.check import check, own_tests_arguments
from pytest_finetune.errors import ConfigError
from pytest_finetune.report.session import merge_reports
from pytest_finetune.upgrade.command import own_tests
from pytest_finetune.upgrade.verdict import build_verdict


def test_own_tests_run_from_here_with_only_the_settings_given(tmp_path):
    (tmp_path / "tests").mkdir()
    args = own_tests_arguments(["tests", "tests::test_x"], tmp_path / "r.json", {"model": "tiny-random-bert",
                               "baselines": None, "data": None}, ["-x"], cwd=tmp_path)
    assert args[:2] == ["tests", "tests::test_x"] and args[-1] == "-x"
    assert "--finetune-model=tiny-random-bert" in args and not any(a.startswith(("--finetune-baselines",
                                                                                  "--finetune-data")) for a in args)
    assert f"--finetune-report={tmp_path / 'r.json'}" in args  # joined: pytest's rootdir ignores it


def test_a_missing_test_path_and_an_empty_selection_are_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"--tests: nope\.py does not exist \(from .*\); expected your test files"):
        own_tests_arguments(["nope.py"], cwd=tmp_path)
    with pytest.raises(ConfigError, match=r"--no-guard: nothing left to run; name your own tests with --tests PATH"):
        check(guard=False)
    with pytest.raises(ConfigError, match=r"--no-guard: nothing left to run on either side"):
        own_tests(argparse.Namespace(tests=(), guard=False))
    (tmp_path / "test_mine.py").write_text("")
    assert own_tests(argparse.Namespace(tests=["test_mine.py::test_a"], guard=True)) == \
        [str(tmp_path / "test_mine.py") + "::test_a"]


def test_two_sessions_reports_merge_into_one_with_the_worse_outcome():
    guard = {"results": {"mrpc-a": {"x": 1}}, "tests": {"pytest_finetune/guard/t.py::a": {"outcome": "passed"}},
             "fingerprints": {"tokenized_validation": {}}, "versions": {"torch": "2.13.0"},
             "known_issues": [{"id": "k"}], "outcome": "safe", "comparisons": {}}
    mine = {"results": {"tickets-b": {"x": 2}}, "tests": {"test_f.py::b": {"outcome": "failed"}},
            "fingerprints": {"tickets/tokenized_validation": {}}, "versions": {"torch": "2.13.0"},
            "known_issues": [{"id": "k"}], "outcome": "changed", "comparisons": {}}
    merged = merge_reports([guard, mine])
    assert sorted(merged["results"]) == ["mrpc-a", "tickets-b"] and len(merged["tests"]) == 2
    assert sorted(merged["fingerprints"]) == ["tickets/tokenized_validation", "tokenized_validation"]
    assert merged["known_issues"] == [{"id": "k"}] and merged["outcome"] == "changed"


def _report(result, nodeid, band="ok"):
    row = {"scenario": "s", "metric": "accuracy", "baseline": 0.75, "now": 0.75 if band == "ok" else 0.6,
           "allowed": ">= 0.7000", "verdict": band}
    return {"results": {"s": result.to_dict()}, "tests": {nodeid: {"outcome": "passed", "message": ""}},
            "comparisons": {"s": {"nodeid": nodeid, "rows": [row], "noise": None}}, "fingerprints": {},
            "versions": {"transformers": "4.57.6"}}


def test_a_moved_run_of_the_users_own_runner_is_judged_by_the_seed_band_recorded_with_its_baseline():
    config = make_result().config.replace(runner="weighted", runner_source="1a2b3c4d", task="tickets", task_source="5e6f7a8b")
    before = make_result(losses=[0.7 - 0.02 * i for i in range(20)])
    before.config = config
    after = make_result(losses=[0.7 - 0.021 * i for i in range(20)])
    after.config = config
    verdict = build_verdict(_report(before, "test_f.py::t"), _report(after, "test_f.py::t"))
    assert [m.own for m in verdict.moves] == [True] and verdict.moves[0].moved
    assert verdict.escalations() == []  # nothing for upgrade to train: only built-ins train outside pytest
    assert any("judged by the seed band recorded with its baseline" in note for note in verdict.notes)
    assert verdict.outcome.value == "changed"  # the band holds on both sides
    below = build_verdict(_report(before, "test_f.py::t"), _report(after, "test_f.py::t", band="FAIL"))
    assert below.outcome.value == "regression"
    assert below.regressions == ["s accuracy: ok on old, FAIL on new (the seed band recorded with your baseline)"]


def test_the_suite_command_passes_the_selection_on(tmp_path):
    from pytest_finetune.upgrade.suite import suite_command

    class Side:
        label = "new"

    class Env:
        python, side = tmp_path / "python", Side()

    command = suite_command(Env(), "tiny", tmp_path / "r.json", {}, (), ["/p/test_f.py"], guard=False)
    assert command[-3:] == ["--tests", "/p/test_f.py", "--no-guard"]


def test_a_drift_of_what_autotokenizer_resolved_names_the_keys_that_changed():
    """transformers 4.57.6 resolves the embedded model's tokenizer to BertTokenizerFast, 5.x to
    BertTokenizer (measured by the upgrade of a user's tests): the verdict says that, not two
    whole objects; a task's tokenized split is never rendered with MRPC's texts."""
    from pytest_finetune.upgrade.verdict import _first_difference

    old = {"class": "BertTokenizerFast", "is_fast": True, "padding_side": "right"}
    new = {"class": "BertTokenizer", "is_fast": True, "padding_side": "right"}
    assert _first_difference("tickets/tokenizer_resolved", old, new, None) == \
        "class: 'BertTokenizerFast' (old), 'BertTokenizer' (new)"
    tokenized = [{"examples": 2, "per_example": ["a", b]} for b in ("b", "c")]
    line = _first_difference("tickets/tokenized_validation", *tokenized, lambda i: "an MRPC pair")
    assert line == "first differing example: validation idx 1" and "MRPC" not in line
