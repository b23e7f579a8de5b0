"""The invariants on users' own runners: a Trainer subclass and a training function.

A ``compute_loss`` that accepts ``num_items_in_batch`` and ignores it trains with twice the
loss under accumulation on transformers 5.x (not on 4.x, where Trainer divides by the
accumulation steps itself): the accumulation invariant fails naming accumulation, the factor
and the known issue whose bug class it is; the same loss normalized by ``num_items_in_batch``
passes on both. A training function that supports resume (``LoopRun.checkpointing``) passes
the resume invariant; one that does not is told what it lacks, in one line.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from pytest_finetune.compat.known_issues import known_issue
from user_trainers import IgnoresItemsTrainer, NormalizedLossTrainer, resumable_course_loop

pytestmark = pytest.mark.slow
MRPC = dict(model="tiny-random-bert", epochs=3)
INFLATED = known_issue("transformers-47688").applies()  # transformers >= 5.0


def test_a_compute_loss_ignoring_num_items_fails_accumulation_where_transformers_stopped_dividing(finetune_invariant):
    if not INFLATED:  # transformers 4.x divides each micro-batch's mean by the accumulation steps
        assert finetune_invariant("accumulation", runner=IgnoresItemsTrainer, **MRPC).holds
        return
    with pytest.raises(pytest.fail.Exception) as failed:
        finetune_invariant("accumulation", runner=IgnoresItemsTrainer, **MRPC)
    message = str(failed.value)
    assert "accumulation invariant broken (runner IgnoresItemsTrainer, task mrpc): batch 4 x accumulation 2" in message
    assert "the variant (batch 4 x accumulation 2) is off: loss 2.00x the reference from step 1" in message
    assert "likely cause: accumulation normalization" in message
    assert "known issue transformers-47688 (https://github.com/huggingface/transformers/issues/47688)" in message
    assert "runner IgnoresItemsTrainer fails the way it describes" in message


def test_the_same_loss_normalized_by_num_items_keeps_accumulation(finetune_invariant):
    assert finetune_invariant("accumulation", runner=NormalizedLossTrainer, **MRPC).holds


def test_a_training_function_with_checkpointing_resumes_like_the_uninterrupted_run(finetune_invariant):
    outcome = finetune_invariant("resume", runner=resumable_course_loop, **MRPC)
    assert outcome.variant.config.resume_at == 6 and outcome.variant.losses == outcome.reference.losses


def test_a_training_function_without_checkpointing_is_told_what_resume_needs(finetune_invariant):
    def plain_loop(run):
        import torch

        optimizer = torch.optim.AdamW(run.model.parameters(), lr=run.lr)
        for _ in range(run.epochs):
            for batch in run.train_dataloader:
                loss = run.model(**batch).loss
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()
                run.step(loss)
            run.evaluate()

    with pytest.raises(pytest.fail.Exception, match=r"runner plain_loop: a resumed run needs run\.checkpointing\("
                                                    r"optimizer, scheduler\) before training and epochs in "
                                                    r"range\(run\.start_epoch, run\.epochs\)"):
        finetune_invariant("resume", runner=plain_loop, **MRPC)


CONFTEST = """
from user_trainers import IgnoresItemsTrainer, NormalizedLossTrainer


def pytest_finetune_runners(config):
    return {"ignores-items": IgnoresItemsTrainer, "normalized": NormalizedLossTrainer}
"""

TESTS = """
import pytest


@pytest.mark.parametrize("runner", ["ignores-items", "normalized"])
def test_my_trainer_accumulates_like_a_large_batch(finetune_invariant, runner):
    finetune_invariant("accumulation", runner=runner, model="tiny-random-bert", epochs=2)
"""


def test_a_registered_trainer_subclass_as_a_user_sees_it(pytester, monkeypatch):
    monkeypatch.setenv("CI", "")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_mine=TESTS)
    pytester.syspathinsert(str(Path(__file__).parent))  # user_trainers.py, the project's own module
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider", "-q")
    if not INFLATED:
        result.assert_outcomes(passed=2)
        return
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*accumulation invariant broken (runner ignores-items, task mrpc): batch 4 x accumulation 2 should train like "
        "batch 8 x accumulation 1",
        "*the variant (batch 4 x accumulation 2) is off: loss 2.00x the reference from step 1*",
        "*likely cause: accumulation normalization*",
        "*known issue transformers-47688*",
    ])
