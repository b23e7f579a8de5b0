"""Tiny runs of both runners: they train, the loss falls, the weights move, the baseline holds.

32 pairs cut to 32 tokens, 5 epochs: about 12 s per runner on 2 CPU cores, so every pull
request can afford to train both runners end to end on the user's stack.
"""
import pytest

from pytest_finetune.checks.assertions import assert_loss_decreases, assert_params_changed

RUNNERS = ["trainer", "loop"]


@pytest.mark.parametrize("runner", RUNNERS)
def test_tiny_run_loss_decreases(finetune_run, runner):
    result = finetune_run(runner=runner, profile="tiny")
    assert len(result.losses) == 20  # 32 pairs / batch 8 * 5 epochs
    assert_loss_decreases(result, min_relative_drop=0.3)


@pytest.mark.parametrize("runner", RUNNERS)
def test_tiny_run_moves_weights_and_records_everything(finetune_run, runner):
    result = finetune_run(runner=runner, profile="tiny")
    assert_params_changed(result)
    assert [round(e["epoch"]) for e in result.eval_history] == [1, 2, 3, 4, 5]
    assert sum(result.prediction_counts) == 32
    assert result.examples_per_s > 0 and result.versions["transformers"]
    assert result.config.runner == runner


@pytest.mark.parametrize("runner", RUNNERS)
def test_tiny_run_matches_baseline(finetune_run, finetune_baseline, runner):
    finetune_baseline.check(finetune_run(runner=runner, profile="tiny"))
