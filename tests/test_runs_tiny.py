"""The run factory and the assertions themselves: results serialize, runs are shared, checks can fail.

The tiny runs as guards of the user's stack (loss falls, weights move, baseline holds)
ship in ``pytest_finetune/guard/test_tiny_runs.py``.
"""
import json

import pytest

from pytest_finetune.checks.assertions import assert_loss_decreases, assert_not_collapsed
from pytest_finetune.mrpc.data_files import describe_source
from pytest_finetune.runs import RunResult


def test_run_result_json_round_trip(finetune_run, tmp_path):
    result = finetune_run(runner="loop", profile="tiny")
    path = result.save(tmp_path / "run.json")
    again = RunResult.from_json(path.read_text())
    assert again.to_dict() == result.to_dict()
    stored = json.loads(path.read_text())["config"]
    # The stored record names the data by kind and content hash, never by its local path.
    assert stored["runner"] == "loop" and stored["data"] == describe_source(result.config.data)
    assert result.config.data not in path.read_text()
    # Offline with no cached copy of evaluate's glue module, the local one ran, and says so.
    assert json.loads(path.read_text())["metric_source"] == "local:glue_mrpc.py"


def test_same_config_trains_once_per_session(finetune_run):
    assert finetune_run(runner="trainer", profile="tiny") is finetune_run(runner="trainer", profile="tiny")


def test_collapse_detector_flags_majority_class_predictions():
    with pytest.raises(AssertionError, match="collapsed: class 1 predicted for 408 of 408"):
        assert_not_collapsed([0, 408])
    assert_not_collapsed([120, 288])


def test_loss_decrease_check_can_fail():
    with pytest.raises(AssertionError, match="loss did not decrease"):
        assert_loss_decreases([0.69, 0.70, 0.68, 0.69, 0.70, 0.69, 0.68, 0.70])
