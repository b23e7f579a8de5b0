"""Baselines as a user meets them, through pytester: missing, update, compare, xdist, stale."""
import json
import os
import shutil

import pytest

pytest_plugins = ["pytester"]

needs_data = pytest.mark.skipif(
    not os.path.isdir(os.environ.get("PYTEST_FINETUNE_MRPC_DIR", "/nonexistent")),
    reason="set PYTEST_FINETUNE_MRPC_DIR (--finetune-data) to the MRPC folder")
if os.environ.get("CI", "").lower() == "true":
    needs_data = pytest.mark.usefixtures()  # in CI the data must be there: no skip

TEST_FILE = """
import pytest

@pytest.mark.parametrize("runner", ["trainer", "loop"])
def test_tiny(finetune_run, finetune_baseline, runner):
    finetune_baseline.check(finetune_run(runner=runner, profile="tiny", model="tiny-random-bert"))
"""
TRAINER_FILE = "baselines/mrpc-tiny-random-bert-trainer-tiny-cpu-fp32.json"
LOOP_FILE = "baselines/mrpc-tiny-random-bert-loop-tiny-cpu-fp32.json"


@pytest.fixture
def project(pytester, monkeypatch):
    monkeypatch.setenv("PYTEST_FINETUNE_DEVICE", "cpu")
    monkeypatch.setenv("CI", "")  # inner sessions: keep this repo's CI policy out of them
    pytester.makeini("[pytest]\nfinetune_baselines = baselines\n")
    pytester.makepyfile(test_tiny=TEST_FILE)
    return pytester


@needs_data
def test_missing_baseline_fails_with_the_command_that_creates_it(project):
    result = project.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*no baseline for scenario mrpc-tiny-random-bert-trainer-tiny-cpu-fp32*",
                                 "*--finetune-update-baselines --finetune-seeds 3*"])
    assert not (project.path / "baselines").exists() or not list((project.path / "baselines").glob("*.json"))


@needs_data
def test_update_then_compare_then_edit_to_unreachable_value_fails(project):
    result = project.runpytest("--finetune-update-baselines", "--finetune-seeds", "2")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*wrote mrpc-tiny-random-bert-trainer-tiny-cpu-fp32.json (seeds *42, 43*"])
    record = json.loads((project.path / TRAINER_FILE).read_text())
    assert record["seeds"] == [42, 43] and len(record["metrics"]["accuracy"]["values"]) == 2
    assert record["versions"]["transformers"] and record["tolerance"]["source"].startswith("2 seeds")

    project.runpytest().assert_outcomes(passed=2)  # same code, same numbers: inside the band

    record["metrics"]["accuracy"]["mean"] = 0.99  # a value this model cannot reach
    (project.path / TRAINER_FILE).write_text(json.dumps(record))
    result = project.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*accuracy: baseline 0.9900*now 0.*allowed >= 0.9*",
                                 "*library versions: same as the baseline*",
                                 "*to accept it: mv *obtained.json*"])
    assert (project.path / TRAINER_FILE.replace(".json", ".obtained.json")).is_file()


@needs_data
def test_unused_baselines_are_listed(project):
    project.runpytest("--finetune-update-baselines").assert_outcomes(passed=2)
    shutil.copy(project.path / LOOP_FILE, project.path / "baselines/mrpc-old-scenario.json")
    result = project.runpytest()
    result.stdout.fnmatch_lines(["*baselines no test of this session used (1): mrpc-old-scenario.json*"])


@needs_data
def test_report_json_and_png(project):
    project.runpytest("--finetune-update-baselines").assert_outcomes(passed=2)
    result = project.runpytest("--finetune-report", "out/report.json")
    result.assert_outcomes(passed=2)
    report = json.loads((project.path / "out/report.json").read_text())
    assert set(report["results"]) == {"mrpc-tiny-random-bert-trainer-tiny-cpu-fp32",
                                      "mrpc-tiny-random-bert-loop-tiny-cpu-fp32"}
    pngs = list((project.path / "out").glob("*.png"))
    assert len(pngs) == 2 and all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    result.stdout.fnmatch_lines(["scenario*metric*baseline*now*delta*verdict*", "*accuracy*ok*"])


@needs_data
def test_xdist_update_of_two_scenarios(project):
    pytest.importorskip("xdist")
    result = project.runpytest_subprocess("-n", "2", "--finetune-update-baselines", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    for name in (TRAINER_FILE, LOOP_FILE):
        record = json.loads((project.path / name).read_text())
        assert record["scenario"]["runner"] in name
    assert not list((project.path / "baselines").glob(".*.tmp"))
    project.runpytest().assert_outcomes(passed=2)
