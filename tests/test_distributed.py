"""The distributed invariant: 2 processes x batch 4 train like 1 process x batch 8.

Launched with the libraries' own launchers (``runs.distributed``): torchrun for the Trainer,
``accelerate launch`` for the loops, 2 CPU processes on gloo here. Each launch starts two
Python processes that import torch and transformers (about 10 s on 2 cores before the
first step), so these are ``slow`` and ``distributed``.
"""
from __future__ import annotations

import pytest

from pytest_finetune.compat.known_issues import known_issue
from user_trainers import IgnoresItemsTrainer, NormalizedLossTrainer

TASKS = {"mrpc": dict(model="tiny-random-bert", epochs=3), "mrpc-lm": dict(epochs=3)}


@pytest.mark.slow
@pytest.mark.distributed
@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize("runner", ["trainer", "loop"])
def test_builtin_runners_train_alike_on_two_processes(finetune_invariant, runner, task):
    # [trainer-mrpc] is transformers-47688's strict xfail on 5.x: the model ignores the
    # num_items_in_batch that Trainer scales the loss for.
    outcome = finetune_invariant("distributed", runner=runner, task=task, **TASKS[task])
    assert outcome.variant.config.processes == 2 and outcome.variant.losses != outcome.reference.losses


@pytest.mark.slow
@pytest.mark.distributed
def test_a_loss_not_averaged_across_processes_fails_naming_the_world_size(finetune_invariant):
    with pytest.raises(pytest.fail.Exception, match=r"loss 2\.00x the reference from step 1 .*\n  likely cause: x world "
                                                    r"size: not averaged across processes"):
        finetune_invariant("distributed", runner="loop", perturb=(("world_unscaled", 1),), **TASKS["mrpc"])


@pytest.mark.slow
@pytest.mark.distributed
@pytest.mark.parametrize("runner", [IgnoresItemsTrainer, NormalizedLossTrainer], ids=lambda r: r.__name__)
def test_users_trainer_subclasses_on_two_processes(finetune_invariant, runner):
    # Both override compute_loss, so Trainer's own scaling by the processes never applies; the
    # normalized one scales its num_items_in_batch-normalized loss itself.
    assert finetune_invariant("distributed", runner=runner, **TASKS["mrpc"]).holds


def test_a_runner_the_processes_cannot_import_is_one_line_before_any_launch(finetune_run):
    def local_loop(run):  # defined inside a function: not importable by the launched processes
        run.step(0.0)

    with pytest.raises(pytest.fail.Exception, match=r"runner local_loop on task mrpc: a run on 2 processes imports "
                                                    r"the runner and task in each process, so they must be picklable"):
        finetune_run(runner=local_loop, processes=2, batch_size=4, **TASKS["mrpc"])
    assert known_issue("transformers-47688").invariants  # the entry names the distributed invariant too
