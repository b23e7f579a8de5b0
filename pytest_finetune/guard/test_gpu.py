"""GPU runs (pytest -m gpu on a GPU runner): the course recipe with mixed precision.

Skipped on machines without CUDA; no GPU baseline exists until a GPU run records one.
"""
import pytest

from pytest_finetune.checks.assertions import assert_loss_decreases, assert_not_collapsed

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("runner", ["trainer", "loop"])
def test_gpu_run_trains_and_beats_majority_class(finetune_run, runner):
    result = finetune_run(runner=runner, profile="gpu")
    assert result.device == "cuda"
    assert_loss_decreases(result, min_relative_drop=0.2)
    assert_not_collapsed(result, max_class_fraction=0.9)
    assert result.accuracy >= 0.734 and result.f1 >= 0.832


@pytest.mark.parametrize("runner", ["trainer", "loop"])
def test_gpu_run_matches_baseline(finetune_run, finetune_baseline, runner):
    finetune_baseline.check(finetune_run(runner=runner, profile="gpu"))
