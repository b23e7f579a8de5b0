"""Baselines as a user meets them, through pytester: missing, update, compare, xdist, stale.

One update run under ``pytest-xdist`` (two workers, two seeds) makes the baselines that
the other tests start from: it is the expensive part (three interpreters), and a baseline
written by xdist workers is exactly what the compare, report and stale-file checks should
read. Each test gets its own copy, so none can see another's edits.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.slow  # inner pytest sessions and an xdist subprocess

from pytest_finetune.plugin.availability import require_data


@pytest.fixture(scope="module", autouse=True)
def _needs_data():
    """The inner sessions read MRPC from the environment: skip (fail under CI=true) without it.

    Module-scoped so that it runs before the xdist update, which would otherwise start three
    interpreters only to find no data.
    """
    require_data(os.environ.get("PYTEST_FINETUNE_MRPC_DIR", "hub"), ci_strict=True)  # this repo's policy


# Two epochs of 16 pairs on the 2-layer random BERT: what is under test is the baseline
# machinery, not the model, so the runs only need to be real and deterministic.
TEST_FILE = """
import pytest

@pytest.mark.parametrize("runner", ["trainer", "loop"])
def test_tiny(finetune_run, finetune_baseline, runner):
    result = finetune_run(runner=runner, profile="tiny", model="tiny-random-bert",
                          epochs=2, train_limit=16, eval_limit=32)
    finetune_baseline.check(result)
"""
INI = "[pytest]\nfinetune_baselines = baselines\n"
TRAINER_FILE = "baselines/mrpc-tiny-random-bert-trainer-tiny-cpu-fp32.json"
LOOP_FILE = "baselines/mrpc-tiny-random-bert-loop-tiny-cpu-fp32.json"
INNER_ENV = {"PYTEST_FINETUNE_DEVICE": "cpu", "CI": ""}  # keep this repo's CI policy out


@pytest.fixture(scope="module")
def xdist_update(tmp_path_factory):
    """A project whose baselines were written by ``-n 2 --finetune-update-baselines --finetune-seeds 2``."""
    pytest.importorskip("xdist")
    folder = tmp_path_factory.mktemp("xdist-project")
    (folder / "tox.ini").write_text(INI)
    (folder / "test_tiny.py").write_text(TEST_FILE)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--finetune-update-baselines", "--finetune-seeds", "2",
         "-p", "no:cacheprovider", "-p", "no:randomly"],
        cwd=folder, env={**os.environ, **INNER_ENV}, capture_output=True, text=True, timeout=600)
    return folder, done.returncode, done.stdout + done.stderr


@pytest.fixture
def project(pytester, monkeypatch):
    for name, value in INNER_ENV.items():
        monkeypatch.setenv(name, value)
    pytester.makeini(INI)
    pytester.makepyfile(test_tiny=TEST_FILE)
    return pytester


@pytest.fixture
def updated_project(project, xdist_update):
    folder, returncode, output = xdist_update
    assert returncode == 0, output
    shutil.copytree(folder / "baselines", project.path / "baselines")
    return project


def test_missing_baseline_fails_with_the_command_that_creates_it(project):
    result = project.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*no baseline for scenario mrpc-tiny-random-bert-trainer-tiny-cpu-fp32*",
                                 "*--finetune-update-baselines --finetune-seeds 3*"])
    assert not (project.path / "baselines").exists() or not list((project.path / "baselines").glob("*.json"))


def test_xdist_update_of_two_scenarios(xdist_update):
    folder, returncode, output = xdist_update
    assert returncode == 0, output
    assert "2 passed" in output
    for name in ("trainer", "loop"):
        assert f"wrote mrpc-tiny-random-bert-{name}-tiny-cpu-fp32.json (seeds 42, 43" in output
    for name in (TRAINER_FILE, LOOP_FILE):
        record = json.loads((folder / name).read_text())
        assert record["scenario"]["runner"] in name
        assert record["seeds"] == [42, 43] and len(record["metrics"]["accuracy"]["values"]) == 2
        assert record["versions"]["transformers"] and record["tolerance"]["source"].startswith("2 seeds")
    assert not list((folder / "baselines").glob(".*.tmp"))


def unreachable(record):
    """Accuracy 0.99 on every seed: consistent (a baseline's mean and std must be its values')."""
    stats = record["metrics"]["accuracy"]
    stats.update(mean=0.99, std=0.0, min=0.99, max=0.99, values=[0.99] * len(stats["values"]))


def test_compare_passes_then_unreachable_value_fails(updated_project):
    project = updated_project
    project.runpytest().assert_outcomes(passed=2)  # same code, same numbers: inside the band

    record = json.loads((project.path / TRAINER_FILE).read_text())
    # A value this model cannot reach, measured as if without spread (the two random-BERT
    # seeds may disagree a lot, and 3 std of that would still admit the real number).
    unreachable(record)
    (project.path / TRAINER_FILE).write_text(json.dumps(record))
    result = project.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    # band floor: 2 of the 32 eval predictions (0.0625), not the 0.01 a flipped pair would fail
    result.stdout.fnmatch_lines(["*accuracy: baseline 0.9900*now 0.*allowed >= 0.9275*",
                                 "*library versions: same as the baseline*",
                                 "*to accept it: mv *obtained.json*"])
    assert (project.path / TRAINER_FILE.replace(".json", ".obtained.json")).is_file()


def test_update_rewrites_only_failing_or_missing_scenarios(updated_project):
    project = updated_project
    before = {name: (project.path / name).read_text() for name in (TRAINER_FILE, LOOP_FILE)}
    record = json.loads(before[TRAINER_FILE])
    unreachable(record)  # the trainer scenario now fails
    (project.path / TRAINER_FILE).write_text(json.dumps(record))
    result = project.runpytest("--finetune-update-baselines")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*wrote mrpc-tiny-random-bert-trainer-tiny-cpu-fp32.json (seeds 42)*"])
    assert "wrote mrpc-tiny-random-bert-loop" not in result.stdout.str()
    assert json.loads((project.path / TRAINER_FILE).read_text())["metrics"]["accuracy"]["mean"] < 0.99
    assert (project.path / LOOP_FILE).read_text() == before[LOOP_FILE]  # passing: untouched
    assert not (project.path / TRAINER_FILE.replace(".json", ".obtained.json")).exists()


def test_update_all_rewrites_only_what_ran(updated_project):
    project = updated_project
    loop_before = (project.path / LOOP_FILE).read_text()
    result = project.runpytest("--finetune-update-baselines=all", "-k", "trainer")
    result.assert_outcomes(passed=1, deselected=1)
    result.stdout.fnmatch_lines(["*wrote mrpc-tiny-random-bert-trainer-tiny-cpu-fp32.json (seeds 42)*"])
    assert json.loads((project.path / TRAINER_FILE).read_text())["seeds"] == [42]
    assert (project.path / LOOP_FILE).read_text() == loop_before


def test_unused_baselines_are_listed(updated_project):
    project = updated_project
    shutil.copy(project.path / LOOP_FILE, project.path / "baselines/mrpc-old-scenario.json")
    result = project.runpytest()
    result.stdout.fnmatch_lines(["*baselines no test of this session used (1): mrpc-old-scenario.json*"])
    # A selection cannot tell: the deselected tests may still use the other baselines.
    for selection in (["-k", "trainer"], ["-m", "not full"], ["test_tiny.py"]):
        assert "no test of this session used" not in project.runpytest(*selection).stdout.str()


def test_report_json_and_png(updated_project):
    project = updated_project
    result = project.runpytest("--finetune-report", "out/report.json")
    result.assert_outcomes(passed=2)
    report = json.loads((project.path / "out/report.json").read_text())
    assert set(report["results"]) == {"mrpc-tiny-random-bert-trainer-tiny-cpu-fp32",
                                      "mrpc-tiny-random-bert-loop-tiny-cpu-fp32"}
    pngs = list((project.path / "out").glob("*.png"))
    assert len(pngs) == 2 and all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    result.stdout.fnmatch_lines(["scenario*metric*baseline*now*delta*verdict*", "*accuracy*ok*"])


def test_a_moved_same_seed_run_keeps_failing_and_says_the_band_holds_and_how_to_rerecord(updated_project):
    """The anchors' practice: a change must be looked at. The failure says what moved, that the
    seed band still holds (so the outcome is CHANGED, not a regression), and the exact command
    that re-records the baseline if the change is expected; the report carries the outcome."""
    project = updated_project
    record = json.loads((project.path / TRAINER_FILE).read_text())
    record["seed_runs"]["42"]["losses"][0] += 0.01  # step 1 of seed 42's own curve, nothing else
    (project.path / TRAINER_FILE).write_text(json.dumps(record))
    result = project.runpytest("--finetune-report", "out/report.json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*loss curve (trainer runner, seed 42): left the noise envelope first at step 1 of *",
        "*seed band: holds (accuracy *: the same-seed numerics moved, but the metrics stay within the recorded "
        "seeds' spread*",
        "*if the change is expected (new kernels, another reduction order, other random draws), re-record:*",
        "*pytest 'test_tiny.py::test_tiny[[]trainer[]]' --finetune-update-baselines --finetune-seeds 3*"])
    report = json.loads((project.path / "out/report.json").read_text())
    assert report["outcome"] == "changed"
    trainer = report["comparisons"]["mrpc-tiny-random-bert-trainer-tiny-cpu-fp32"]
    assert trainer["outcome"] == "changed" and trainer["nodeid"] == "test_tiny.py::test_tiny[trainer]"
    assert trainer["noise"]["factor"] == 10 and len(trainer["noise"]["loss_curve"]) == len(record["seed_runs"]["42"]["losses"])
