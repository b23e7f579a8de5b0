"""Quality from seeds: is new worse than old, and how large a worsening could hide?

Synthetic seeds (no training): the one-sided Welch test per signal, its direction for each
signal, the Bonferroni split of alpha, the minimum detectable effect, and the line a
verdict prints.
"""
from __future__ import annotations

import math

import pytest

from factories import make_result
from pytest_finetune.baselines.quality import (ALPHA, SIGNALS, compare_quality, mde_for_seeds,
                                               minimum_detectable_effect, signals_of, welch)

SPREAD = (-0.02, -0.01, 0.0, 0.01, 0.02)


def _runs(eval_loss=0.6, accuracy=0.7, train_shift=0.0, runner="loop"):
    """Five seeds whose signals spread by SPREAD around the given centres."""
    runs = []
    for i, wobble in enumerate(SPREAD):
        losses = [0.7 - 0.02 * k + (train_shift if k >= 16 else 0.0) + wobble for k in range(20)]
        runs.append(make_result(runner=runner, seed=42 + i, losses=losses, eval_losses=[eval_loss + wobble] * 5,
                                accuracy=accuracy + wobble, f1=0.8 + wobble).to_dict())
    return runs


def test_signals_are_the_final_values_and_the_last_epochs_mean_training_loss():
    result = make_result(losses=[1.0] * 16 + [0.2, 0.4, 0.6, 0.8], eval_losses=[0.9, 0.5, 0.5, 0.5, 0.61],
                         accuracy=0.7, f1=0.75).to_dict()
    assert signals_of(result) == {"accuracy": 0.7, "f1": 0.75, "train_loss": pytest.approx(0.5), "eval_loss": 0.61}


def test_the_same_seeds_on_both_sides_are_not_worse():
    quality = compare_quality("loop", "tiny", _runs(), _runs())
    classifier = [s.key for s in SIGNALS if s.key not in ("perplexity", "token_accuracy")]
    assert quality.worse == [] and [s.key for s in quality.signals] == classifier
    assert all(s.alpha == pytest.approx(ALPHA / 4) for s in quality.signals)  # Bonferroni over 4 signals
    assert all(0.4 < s.p < 0.6 for s in quality.signals)  # t = 0: half the mass on each side


def test_a_worse_eval_loss_is_worse_and_a_better_one_is_not():
    worse = compare_quality("loop", "tiny", _runs(), _runs(eval_loss=0.65))
    assert [s.key for s in worse.worse] == ["eval_loss"]
    better = compare_quality("loop", "tiny", _runs(), _runs(eval_loss=0.55))
    assert better.worse == [] and better.signals[0].p > 0.99


def test_accuracy_is_worse_when_it_drops_not_when_it_rises():
    assert [s.key for s in compare_quality("loop", "tiny", _runs(), _runs(accuracy=0.62)).worse] == ["accuracy"]
    assert compare_quality("loop", "tiny", _runs(), _runs(accuracy=0.78)).worse == []


def test_a_language_models_perplexity_is_worse_when_it_rises():
    def runs(perplexity):
        out = []
        for i, wobble in enumerate(SPREAD):
            result = make_result(seed=42 + i, eval_losses=[6.0 + wobble] * 5, losses=[8.0 - 0.1 * k for k in range(20)],
                                 metrics={"perplexity": perplexity + 10 * wobble, "token_accuracy": 0.1 + wobble})
            result.eval_history = [{k: v for k, v in e.items() if k in ("epoch", "eval_loss")} for e in result.eval_history]
            out.append(result.to_dict())
        return out

    assert [s.key for s in compare_quality("loop", "tiny", runs(400.0), runs(480.0)).worse] == ["perplexity"]
    better = compare_quality("loop", "tiny", runs(400.0), runs(320.0))
    assert better.worse == [] and {s.key for s in better.signals} == {"eval_loss", "perplexity", "token_accuracy",
                                                                      "train_loss"}


def test_a_schedule_that_stops_training_shows_in_the_final_training_loss():
    quality = compare_quality("trainer", "tiny", _runs(), _runs(train_shift=0.3))
    assert [s.key for s in quality.worse] == ["train_loss"]
    assert quality.summary().startswith("trainer/tiny, seeds 42-46 on each side: quality WORSE: final training loss +0.3000")


def test_the_line_states_the_change_its_error_p_alpha_and_what_was_detectable():
    quality = compare_quality("loop", "tiny", _runs(), _runs(eval_loss=0.601))
    line = quality.signals[0].line()
    assert line.startswith("eval loss +0.0010 ± 0.0100 over 5 seeds per side, p = 0.46 (not worse at α = 0.0125); "
                           "detectable: a rise of >= ")
    se, df = welch([0.6 + w for w in SPREAD], [0.601 + w for w in SPREAD])
    assert line.endswith(f"{minimum_detectable_effect(se, df, ALPHA / 4):.4f}")


def test_identical_values_with_no_spread_are_exact():
    flat = [make_result(seed=42 + i, accuracy=0.6838).to_dict() for i in range(3)]
    lower = [make_result(seed=42 + i, accuracy=0.3162).to_dict() for i in range(3)]
    same = compare_quality("loop", "tiny", flat, flat)
    assert same.worse == [] and next(s for s in same.signals if s.key == "accuracy").mde == 0.0
    assert "accuracy" in [s.key for s in compare_quality("loop", "tiny", flat, lower).worse]


def test_the_detectable_effect_shrinks_as_one_over_the_root_of_the_seeds():
    mdes = [mde_for_seeds(n, 0.01, ALPHA / 4) for n in (3, 5, 10, 40)]
    assert mdes == sorted(mdes, reverse=True)
    # Large n: t quantiles approach the normal ones, z(1 - 0.0125) + z(0.8) = 2.241 + 0.842 = 3.08.
    assert mdes[-1] == pytest.approx(3.08 * 0.01 * math.sqrt(2 / 40), rel=0.03)


def test_one_seed_per_side_is_refused():
    with pytest.raises(ValueError, match="at least 2 seeds per side"):
        compare_quality("loop", "tiny", _runs()[:1], _runs())
