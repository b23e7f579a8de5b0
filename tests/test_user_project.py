"""A user's project as pytest sees it: their conftest.py registers a Trainer subclass, a
training function and a task from their CSV files; baselines are recorded, a rerun passes,
a 1e-4 change of Adam's beta1 fails naming the step, an edited runner fails naming the
change; bad registrations and bad files stop the session with one line before anything trains.

Inner pytest sessions (``pytester``), so ``slow``; the 2-layer random BERT keeps each run
to seconds.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from synthetic_texts import write_csv, write_ticket_files

pytestmark = pytest.mark.slow
MRPC_DIR = os.environ.get("PYTEST_FINETUNE_MRPC_DIR", "")  # read before the project fixture unsets it

CONFTEST = """
from pathlib import Path

from pytest_finetune import TextClassification
from training import WeightedLossTrainer, train_my_way

HERE = Path(__file__).parent
TICKETS = TextClassification("tickets", train=HERE / "data/train.csv", validation=HERE / "data/dev.csv")


def pytest_finetune_tasks(config):
    return {"tickets": TICKETS}


def pytest_finetune_runners(config):
    return {"weighted": WeightedLossTrainer, "my-loop": train_my_way}
"""

# The tutorial's training code (docs/your-pipeline.md; tests/test_docs_tutorial.py keeps them equal).
TRAINING = (Path(__file__).parent / "user_training.py").read_text(encoding="utf-8")

TESTS = """
import os
from pathlib import Path

import pytest

PERTURB = tuple((kind, float(size)) for kind, size in
                (item.split("=") for item in os.environ.get("FINETUNE_PERTURB", "").split(",") if item))


def test_my_data_and_tokenizer_did_not_drift(finetune_drift):
    finetune_drift.check(task="tickets")


@pytest.mark.parametrize("runner", ["weighted", "my-loop"])
def test_my_finetuning(finetune_run, finetune_baseline, runner):
    # The 2-layer random BERT at a higher rate: seconds per run, and updates large enough
    # that Adam's beta1 - 1e-4 moves the loss curve beyond the noise within 20 steps.
    result = finetune_run(runner=runner, task="tickets", model="tiny-random-bert", lr=1e-3, perturb=PERTURB)
    finetune_baseline.check(result)
"""


@pytest.fixture
def project(pytester, monkeypatch):
    monkeypatch.setenv("CI", "")
    monkeypatch.delenv("PYTEST_FINETUNE_MRPC_DIR", raising=False)
    write_ticket_files(pytester.path / "data", train=48, validation=24)
    pytester.makepyfile(training=TRAINING, test_finetuning=TESTS)
    pytester.makeconftest(CONFTEST)
    pytester.syspathinsert()
    return pytester


def _run(pytester, *args):
    return pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider", *args)


def test_record_rerun_and_a_tiny_optimizer_change_that_fails_naming_the_step(project, monkeypatch):
    recorded = _run(project, "--finetune-update-baselines", "-k", "test_my_finetuning")
    recorded.assert_outcomes(passed=2)
    recorded.stdout.fnmatch_lines(["wrote tickets-tiny-random-bert-weighted-tiny-cpu-fp32.json (seeds 42): "
                                   "accuracy new -> *, f1_macro new -> *"])
    again = _run(project, "-k", "test_my_finetuning")
    again.assert_outcomes(passed=2)
    again.stdout.fnmatch_lines(["tickets-tiny-random-bert-my-loop-tiny-cpu-fp32 * loss curve (paired, seed 42): "
                                "max |delta| / noise * 0.0000 * ok*"])
    monkeypatch.setenv("FINETUNE_PERTURB", "adam_beta1=1e-4")
    nudged = _run(project, "-k", "test_my_finetuning")
    nudged.assert_outcomes(failed=2)
    for runner in ("weighted", "my-loop"):
        nudged.stdout.fnmatch_lines([f"*loss curve ({runner} runner, seed 42): left the noise envelope first at step *"
                                     f" of 20: *; steps before * are within noise (step 1 included), so the change "
                                     "acts through the updates*"])


def test_drift_fingerprints_of_the_task_are_recorded_and_name_the_first_changed_row(project):
    recorded = _run(project, "--finetune-update-baselines", "-k", "drift")
    recorded.assert_outcomes(passed=1)
    recorded.stdout.fnmatch_lines(["wrote tickets-all-MiniLM-L6-v2-fingerprints.json: fingerprint tokenizer_resolved"])
    stored = (project.path / "baselines" / "tickets-all-MiniLM-L6-v2-fingerprints.json").read_text()
    assert '"padding_side": "right"' in stored and '"pad_token": [' in stored
    _run(project, "-k", "drift").assert_outcomes(passed=1)
    dev = project.path / "data" / "dev.csv"
    header, first, *rest = dev.read_text().splitlines()
    dev.write_text("\n".join([header, "the export page crashes on every login,bug", *rest]) + "\n")
    drifted = _run(project, "-k", "drift")
    drifted.assert_outcomes(failed=1)
    drifted.stdout.fnmatch_lines(["tokenized_validation drifted from *: first changed example: idx 0, now * tokens: "
                                  "[[]CLS[]] the export page crashes on every log ##in [[]SEP[]]",
                                  "collated_batches drifted from *: first changed batch: 0 of 5 (same shapes, other values)"])


def test_an_edited_runner_fails_against_the_record_of_the_old_code(project):
    _run(project, "--finetune-update-baselines", "-k", "weighted and test_my_finetuning").assert_outcomes(passed=1)
    edited = TRAINING.replace("weight = torch.tensor([1.0, 2.0, 1.0]", "weight = torch.tensor([1.0, 1.5, 1.0]")
    project.makepyfile(training=edited)
    result = _run(project, "-k", "weighted and test_my_finetuning")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*runner weighted: its code changed since the baseline was recorded (digest * -> *); "
                                 "a record of other code is not a baseline for it*"])


@pytest.mark.parametrize("conftest, line", [
    ("def pytest_finetune_runners(config):\n    return {'weighted': dict}",
     "ERROR: pytest-finetune: runner weighted: builtins.dict is a class but not a transformers.Trainer subclass*"),
    ("def pytest_finetune_runners(config):\n    return {'weighted': 3}",
     "ERROR: pytest-finetune: runner weighted: 3 is not a transformers.Trainer subclass or a training function*"),
    ("def pytest_finetune_runners(config):\n    return {'trainer': lambda run: None}",
     "ERROR: pytest-finetune: runner trainer: the name of a built-in runner; choose another name"),
    ("def pytest_finetune_tasks(config):\n    return {'tickets': 'data/train.csv'}",
     "ERROR: pytest-finetune: task tickets: 'data/train.csv' is not a task; expected a TextClassification*"),
])
def test_a_bad_registration_stops_the_session_with_one_line(project, conftest, line):
    project.makeconftest(conftest)
    result = _run(project, "--finetune-task", "mrpc")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([line])
    result.stdout.no_fnmatch_line("*finetune: *started*")


def test_a_bad_ini_registration_is_refused_when_the_session_starts(project):
    project.makeini("[pytest]\nfinetune_runners =\n    mine = training:no_such_thing\n")
    result = _run(project)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: pytest-finetune: ini finetune_runners/finetune_tasks: runner "
                                 "training:no_such_thing: module training has no attribute no_such_thing"])


def test_an_ini_registration_by_dotted_path_trains(project):
    project.makeini("[pytest]\nfinetune_runners =\n    ini-loop = training:train_my_way\n")
    project.makepyfile(test_finetuning="""
        def test_it(finetune_run):
            result = finetune_run(runner="ini-loop", task="tickets", model="tiny-random-bert", epochs=1)
            assert result.config.runner == "ini-loop" and len(result.losses) == 4
    """)
    _run(project).assert_outcomes(passed=1)


@pytest.mark.parametrize("rows, line", [
    ([("the app crashes", "bug"), ("refund me", "refund")],
     "*dev.csv: row 2: column label: 'refund' (str) is not one of the labels of the train split (billing, bug, "
     "feature); declare labels=[[]...[]] if the train split lacks one"),
    ([], "*dev.csv: no rows after the header; the split is empty"),
])
def test_a_bad_file_fails_its_runs_with_one_line_before_anything_trains(project, rows, line):
    write_csv(project.path / "data" / "dev.csv", rows)
    result = _run(project, "-k", "test_my_finetuning")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([f"*run weighted/tiny on task tickets failed: {line}"])
    result.stdout.no_fnmatch_line("*finetune: *started*")


def test_a_missing_label_column_fails_with_one_line(project):
    (project.path / "data" / "train.csv").write_text("text,category\nthe app crashes,bug\n")
    result = _run(project, "-k", "my-loop or drift")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*train.csv: missing column(s) label; expected columns text, label, found text, "
                                 "category"])


def test_check_runs_the_guard_suite_and_the_users_own_tests_into_one_report(project):
    """``pytest-finetune check --tests``: both sessions, one report (the drift checks only)."""
    import json
    import sys

    mrpc = MRPC_DIR
    _run(project, "--finetune-update-baselines", "-k", "drift").assert_outcomes(passed=1)
    result = project.run(sys.executable, "-m", "pytest_finetune", "check", "--data", mrpc, "--tests",
                         "test_finetuning.py", "--report", "both.json", "--", "-k", "drift", "-p", "no:randomly")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["pytest-finetune check (guard suite and your tests): ok, exit 0; report *both.json"])
    report = json.loads((project.path / "both.json").read_text())
    assert {"tokenized_validation", "tickets/tokenized_validation", "tickets/tokenizer_resolved"} <= set(
        report["fingerprints"])
    assert "test_finetuning.py::test_my_data_and_tokenizer_did_not_drift" in report["tests"]
    assert any(nodeid.startswith("pytest_finetune/guard/test_drift.py::") for nodeid in report["tests"])
    assert (project.path / "both-guard.json").is_file() and (project.path / "both-tests.json").is_file()
