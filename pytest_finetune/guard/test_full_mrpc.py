"""Full MRPC on CPU: each runner trains once on all 3,668 pairs; many checks read that run."""
import pytest

from pytest_finetune.checks.assertions import (assert_loss_decreases, assert_not_collapsed,
                                        assert_params_changed)

pytestmark = pytest.mark.full
RUNNERS = ["trainer", "loop"]
MAJORITY = {"accuracy": 0.684, "f1": 0.812}  # always predicting "paraphrase" on dev


@pytest.mark.parametrize("runner", RUNNERS)
def test_full_run_is_clearly_above_majority_class(finetune_run, runner):
    result = finetune_run(runner=runner, profile="full")
    assert result.accuracy >= MAJORITY["accuracy"] + 0.05, result.accuracy
    assert result.f1 >= MAJORITY["f1"] + 0.02, result.f1
    assert_not_collapsed(result, max_class_fraction=0.9)


@pytest.mark.parametrize("runner", RUNNERS)
def test_full_run_trains(finetune_run, runner):
    result = finetune_run(runner=runner, profile="full")
    assert len(result.losses) == 2 * 230  # 2 epochs of ceil(3668 / 16) steps
    assert_loss_decreases(result, min_relative_drop=0.2)
    assert_params_changed(result)


@pytest.mark.parametrize("runner", RUNNERS)
def test_full_run_matches_baseline(finetune_run, finetune_baseline, runner):
    finetune_baseline.check(finetune_run(runner=runner, profile="full"))
