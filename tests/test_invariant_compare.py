"""The invariant comparison on made-up runs: what holds, what fails, and what the failure says.

No training: ``make_result`` runs whose numbers are set by hand, and an envelope made by
``measure_noise`` from made-up probes, so each rule (first diverging step, ratio, side,
likely cause, known issue) is checked in milliseconds.
"""
from __future__ import annotations

import pytest

from factories import make_result
from pytest_finetune.errors import ConfigError
from pytest_finetune.invariants.check import FACTOR, InvariantOutcome, known_issues_for, pinned_config, split_options
from pytest_finetune.invariants.compare import compare_runs, invariant_envelope
from pytest_finetune.invariants.families import FAMILIES, family

LOSSES = [0.7 - 0.01 * i for i in range(12)]
EVAL = [0.69, 0.68, 0.67]


def _run(losses=LOSSES, eval_losses=EVAL, **changes):
    history = changes.pop("history", None)
    result = make_result(losses=list(losses), eval_losses=list(eval_losses), **changes)
    if history is not None:
        result.eval_history = history
    return result


def _envelope(reference):
    """Probes that moved the loss by 1e-7 per step (about two float32 ulps here)."""
    probe = _run([x + 1e-7 for x in reference.losses], [e + 1e-7 for e in EVAL])
    return invariant_envelope(reference, [probe, _run()])


def _outcome(name, reference, variant, level="sequence", **config_changes):
    if config_changes:
        variant.config = variant.config.replace(**config_changes)
    envelope = _envelope(reference)
    return InvariantOutcome(family(name), reference, variant, envelope, compare_runs(reference, variant, envelope, FACTOR),
                            FACTOR, level)


def test_equal_runs_and_moves_within_the_envelope_hold():
    reference = _run()
    assert compare_runs(reference, _run(), _envelope(reference), FACTOR).holds
    nudged = _run([x + 5e-7 for x in LOSSES])  # 5x the probes' move: noise
    assert compare_runs(reference, nudged, _envelope(reference), FACTOR).holds


def test_a_loss_twice_the_reference_names_accumulation_normalization_and_step_1():
    reference, variant = _run(), _run([2 * x for x in LOSSES])
    outcome = _outcome("accumulation", reference, variant, batch_size=4, grad_accum=2)
    message = outcome.message()
    assert not outcome.holds
    assert "accumulation invariant broken (runner loop, task mrpc): batch 4 x accumulation 2 should train like" in message
    assert "the variant (batch 4 x accumulation 2) is off: loss 2.00x the reference from step 1" in message
    assert "likely cause: accumulation normalization (the loss is not divided by the accumulation steps" in message
    assert "noise envelope: the reference's own probes" in message


def test_a_token_level_loss_a_little_off_from_step_1_names_token_count_normalization():
    variant = _run([x * 1.03 for x in LOSSES])
    outcome = _outcome("accumulation", _run(), variant, level="token", batch_size=4, grad_accum=2)
    assert "loss 1.03x the reference from step 1" in outcome.message()
    assert "likely cause: token-count normalization" in outcome.message()


def test_a_curve_that_leaves_only_later_points_at_the_updates():
    variant = _run(LOSSES[:3] + [x + 0.01 for x in LOSSES[3:]])
    outcome = _outcome("accumulation", _run(), variant, batch_size=4, grad_accum=2)
    assert outcome.comparison.first["step"] == 4
    assert "the updates differ" in outcome.message()


@pytest.mark.parametrize("ratio, cause", [(2.0, "x world size: not averaged across processes"),
                                          (0.5, "/ world size: averaged over the processes twice")])
def test_distributed_names_the_world_size(ratio, cause):
    variant = _run([x * ratio for x in LOSSES])
    outcome = _outcome("distributed", _run(), variant, batch_size=4, processes=2)
    assert cause in outcome.message() and "2 processes x batch 4 should train like" in outcome.message()


def test_another_step_count_or_learning_rate_is_named_before_the_losses():
    reference = _run()
    more = _run(LOSSES * 2)
    outcome = _outcome("accumulation", reference, more, batch_size=4, grad_accum=2)
    assert "24 optimizer steps, the reference 12" in outcome.message()
    assert "does not accumulate" in outcome.message()  # 2x the steps: it steps every micro-batch
    faster = _run(learning_rates=[1e-4] * 3 + [5e-5] * 9)
    found = compare_runs(reference, faster, _envelope(reference), FACTOR).first
    assert (found["signal"], found["step"]) == ("learning rate", 4)


def test_resume_names_the_first_resumed_step_and_the_optimizer_state():
    reference = _run()
    at_first = _run(LOSSES[:6] + [x + 0.01 for x in LOSSES[6:]])
    outcome = _outcome("resume", reference, at_first, resume_at=6)
    assert "the first resumed step (7) already differs" in outcome.message()
    assert "dropout masks (RNG state" in outcome.message()
    at_second = _run(LOSSES[:7] + [x + 0.01 for x in LOSSES[7:]])
    assert "optimizer state" in _outcome("resume", reference, at_second, resume_at=6).message()


def test_an_eval_loss_alone_moving_on_a_token_task_names_per_batch_means():
    history = [{"epoch": float(i + 1), "accuracy": 0.75, "f1": 0.8, "eval_loss": e + 1e-3} for i, e in enumerate(EVAL)]
    outcome = _outcome("eval_batch", _run(), _run(history=history), level="token", eval_batch_size=7)
    assert "eval loss 1.00" in outcome.message() and "from epoch 1" in outcome.message()
    assert "mean of per-batch means" in outcome.message()


def test_metrics_may_move_by_two_eval_predictions_not_three():
    reference = _run()
    assert compare_runs(reference, _run(accuracy=0.75 + 2 / 32), _envelope(reference), FACTOR).holds
    found = compare_runs(reference, _run(accuracy=0.75 + 3 / 32), _envelope(reference), FACTOR).first
    assert found["signal"] == "metric accuracy"


def test_the_envelope_is_floored_at_one_float32_ulp():
    reference = _run()
    envelope = invariant_envelope(reference, [_run(), _run()])  # probes that moved nothing
    assert all(e > 0 for e in envelope["loss_curve"]) and envelope["eval_logits"] > 0


def test_settings_split_into_the_familys_own_and_run_settings():
    chosen = family("accumulation")
    assert split_options(chosen, {"steps": 4, "lr": 1e-3}) == ({"steps": 4}, {"lr": 1e-3})
    with pytest.raises(ConfigError, match=r"accumulation invariant: unknown setting\(s\) stepz; its own: steps"):
        split_options(chosen, {"stepz": 4})
    with pytest.raises(ConfigError, match=r"invariant 'accumulaton': expected one of accumulation, eval_batch"):
        family("accumulaton")


def test_pins_apply_unless_the_caller_set_them():
    config = make_result().config
    assert pinned_config(family("accumulation"), config, {}).dropout == 0.0
    assert pinned_config(family("accumulation"), config.replace(dropout=0.1), {"dropout": 0.1}).dropout == 0.1
    assert pinned_config(family("eval_batch"), config, {}).max_length is None


def test_every_family_makes_two_configurations_that_differ_in_what_it_names():
    base = make_result().config.replace(batch_size=8)
    reference = _run()  # 12 steps in 5 epochs is not used: resume picks its step from the run
    for name, chosen in FAMILIES.items():
        options = dict(chosen.options)
        one, two = chosen.reference(base, options), chosen.variant(base, options, reference)
        assert one != two, name
        assert chosen.describe(one) != chosen.describe(two), name


def test_a_batch_the_steps_do_not_divide_is_one_line():
    config = make_result().config.replace(batch_size=6)
    with pytest.raises(ConfigError, match=r"accumulation invariant: batch_size 6 must be a multiple of steps=4"):
        family("accumulation").reference(config, {"steps": 4})


def test_known_issues_name_the_invariants_they_break():
    found = {issue.id for issue in known_issues_for(family("eval_batch"), "token", "trainer")}
    assert found == {"transformers-39241"}
    assert known_issues_for(family("eval_batch"), "token", "loop") == []
