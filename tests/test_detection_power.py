"""Detection power on real tiny runs: small changes in training numerics fail the check.

``benchmarks/power.py`` measures the smallest change of each kind the check detects; these
tests keep two of its rows true in CI, through the plugin's own run factory and the same
``check_run`` the ``finetune_baseline`` fixture calls (into ``tmp_path``, so a failure's
``*.obtained.json`` never lands in the packaged baselines). Each perturbed case is one more
tiny run (~12 s on 2 cores), which the fast tier's 60 s budget cannot carry, so they are
``slow``: CI runs them, a pull request's fast tier does not.

Sizes: the tiny table's smallest detected sizes (each moved the seed-42 loop curve by
~500x the noise envelope), so a check that loses that much power fails here.
"""
from __future__ import annotations

import pytest

from pytest_finetune.baselines.check import check_run

pytestmark = pytest.mark.slow


def _check(result, tmp_path):
    outcome = check_run(result, tmp_path, k=3.0)
    return outcome, (outcome.comparison.failures if outcome.comparison else [])


def test_optimizer_change_of_1e_4_fails_after_step_1_and_says_so(finetune_run, tmp_path):
    """Adam's beta1 0.9 -> 0.8999: step 1's loss comes before any update, so it stays
    exactly in place; the failure must say the change acts through the updates."""
    result = finetune_run(runner="loop", profile="tiny", perturb=(("adam_beta1", 1e-4),))
    outcome, failures = _check(result, tmp_path)
    assert outcome.status == "failed", outcome.status
    curve = [f for f in failures if f.startswith("loss curve (loop runner, seed 42): left the noise envelope")]
    assert curve and "step 1 included" in curve[0] and "optimizer, schedule, gradients" in curve[0], failures
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "mrpc-all-MiniLM-L6-v2-loop-tiny-cpu-fp32.obtained.json"]


def test_initial_weight_change_of_1e_4_fails_at_step_1_and_says_so(finetune_run, tmp_path):
    """Every initial weight + 1e-4 of its std: the forward pass moves, so step 1 moves -- by
    less than the 10x limit, but beyond the measured noise, which an update-side change can
    never do; the failure must blame what comes before the first update."""
    result = finetune_run(runner="loop", profile="tiny", perturb=(("init_noise", 1e-4),))
    outcome, failures = _check(result, tmp_path)
    assert outcome.status == "failed", outcome.status
    curve = [f for f in failures if f.startswith("loss curve (loop runner, seed 42): left the noise envelope")]
    assert curve and ("step 1 already moved" in curve[0] or "step 1 moved too, by" in curve[0]), failures
    assert "the initial weights" in curve[0] and "acts through the updates" not in curve[0]


def test_the_clean_run_passes_at_zero_noise(finetune_run, tmp_path):
    """The same seed with the same versions: bit-identical, so 0x the envelope (no false alarm)."""
    outcome, failures = _check(finetune_run(runner="loop", profile="tiny"), tmp_path)
    assert outcome.status == "passed", failures
    rows = {row.metric: row for row in outcome.comparison.rows}
    assert rows["loss curve (paired, seed 42): max |delta| / noise"].now <= 1.0
