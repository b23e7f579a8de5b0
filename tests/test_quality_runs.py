"""Real seeds tell a quality-neutral change from a harmful one (what ``upgrade`` relies on).

Two changes the verdict must tell apart, injected through the runs' test hooks
(``runs.perturb``) instead of two installed releases: one more random number drawn before
training (``rng_draw``: the same-seed run moves, quality cannot) and a learning rate that
drops to zero after a tenth of training (``schedule_cut``: harmful). The quality runs are the
ones ``upgrade`` trains (``upgrade.seeds.quality_configs``: the tiny profile evaluated on
the whole validation split). Slow tier: nine real tiny trainings, about two minutes.
"""
from __future__ import annotations

import pytest

from pytest_finetune.baselines.compare import compare_sides
from pytest_finetune.baselines.quality import compare_quality
from pytest_finetune.plugin.availability import require_data
from pytest_finetune.runs.config import session_run_config
from pytest_finetune.runs.execute import execute_run
from pytest_finetune.upgrade.seeds import quality_configs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def seeds(pytestconfig):
    from pytest_finetune.plugin.stash import settings_of

    settings = settings_of(pytestconfig)
    require_data(settings.data, ci_strict=True)
    base = session_run_config(settings, "loop", "tiny")
    configs = quality_configs(base, 3)
    return {name: [execute_run(config.replace(perturb=perturb), cache_dir=settings.cache_dir) for config in configs]
            for name, perturb in (("clean", ()), ("neutral", (("rng_draw", 1),)), ("harmful", (("schedule_cut", 2),)))}


def test_the_quality_runs_evaluate_on_the_whole_validation_split(seeds):
    assert all(sum(run.prediction_counts) == 408 for run in seeds["clean"])
    assert [run.config.seed for run in seeds["clean"]] == [42, 43, 44]


def test_one_more_random_draw_moves_the_same_seed_run_but_not_quality(seeds):
    moved = compare_sides(seeds["clean"][0], seeds["neutral"][0], None, "loop/tiny")
    assert moved.paired and moved.failures  # the numerics changed...
    quality = compare_quality("loop", "tiny", [r.to_dict() for r in seeds["clean"]],
                              [r.to_dict() for r in seeds["neutral"]])
    assert quality.worse == [], quality.lines()  # ...quality did not


def test_a_schedule_that_stops_after_a_tenth_of_training_is_worse(seeds):
    quality = compare_quality("loop", "tiny", [r.to_dict() for r in seeds["clean"]],
                              [r.to_dict() for r in seeds["harmful"]])
    assert "train_loss" in [s.key for s in quality.worse], quality.lines()
