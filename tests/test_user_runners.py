"""The user's own runners on the user's own task, through ``finetune_run``: what they record.

A ``Trainer`` subclass receives the harness' recording as a mixin and records exactly what
the stock Trainer records; a training function reporting through ``LoopRun`` records
exactly what the built-in loop records. Shown by equality, step for step, on a 3-label task
from CSV files with the 2-layer random BERT (seconds per run).
"""
from __future__ import annotations

import re

import pytest
import torch
from transformers import Trainer

from pytest_finetune import TextClassification, trainer_factory
from pytest_finetune.baselines.scenario import scenario_of
from pytest_finetune.errors import ConfigError
from pytest_finetune.runs.runners import Registry, as_runner, source_digest
from synthetic_texts import write_ticket_files
from user_training import WeightedLossTrainer
from user_training import train_my_way as course_loop  # the HF course's loop, written against LoopRun

SMALL = dict(model="tiny-random-bert", device="cpu", epochs=2, train_limit=16, eval_limit=16)


class PlainTrainer(Trainer):
    """A subclass that changes nothing: it must train exactly as the stock Trainer."""


@pytest.fixture(scope="module")
def tickets(tmp_path_factory):
    train, dev = write_ticket_files(tmp_path_factory.mktemp("tickets"), train=48, validation=24)
    return TextClassification("tickets", train=train, validation=dev)


def _same_records(a, b):
    assert a.losses == b.losses and a.learning_rates == b.learning_rates
    assert a.eval_history == b.eval_history and a.eval_logits == b.eval_logits
    assert a.metrics == b.metrics and a.prediction_counts == b.prediction_counts


def test_a_trainer_subclass_records_exactly_what_the_stock_trainer_records(finetune_run, tickets):
    stock = finetune_run(runner="trainer", task=tickets, **SMALL)
    mine = finetune_run(runner=PlainTrainer, task=tickets, **SMALL)
    _same_records(mine, stock)
    assert len(mine.losses) == 4 and sorted(mine.metrics) == ["accuracy", "f1_macro"]
    assert [round(e["epoch"]) for e in mine.eval_history] == [1, 2] and sum(mine.prediction_counts) == 16
    assert len(mine.prediction_counts) == 3
    scenario = scenario_of(mine.config, mine.device)
    assert scenario["runner"] == "PlainTrainer" and scenario["task"] == "tickets"
    assert scenario["runner_source"] == source_digest(PlainTrainer) and scenario["task_source"] == tickets.source
    assert "runner_source" not in scenario_of(stock.config, stock.device)


def test_a_hand_written_course_loop_records_exactly_what_the_built_in_loop_records(finetune_run, tickets):
    _same_records(finetune_run(runner=course_loop, task=tickets, **SMALL),
                  finetune_run(runner="loop", task=tickets, **SMALL))


@pytest.mark.slow  # two more runs: the fast tier keeps the two equalities above
def test_a_trainer_subclass_with_its_own_loss_trains_with_it(finetune_run, tickets):
    weighted = finetune_run(runner=WeightedLossTrainer, task=tickets, **SMALL)
    stock = finetune_run(runner="trainer", task=tickets, **SMALL)
    assert len(weighted.losses) == len(stock.losses) and weighted.losses != stock.losses
    assert weighted.eval_history[-1].keys() == stock.eval_history[-1].keys()


@pytest.mark.slow
def test_a_perturbation_reaches_the_users_own_optimizer(finetune_run, tickets):
    clean = finetune_run(runner=course_loop, task=tickets, **SMALL)
    nudged = finetune_run(runner=course_loop, task=tickets, perturb=(("adam_beta1", 1e-4),), **SMALL)
    # Adam's first update does not depend on beta1 (bias correction): steps 1-2 agree, then not.
    assert nudged.losses[:2] == clean.losses[:2] and nudged.losses[2:] != clean.losses[2:]


def test_the_digest_follows_the_code():
    def train(run):
        run.step(1.0)

    first = source_digest(train)

    def train(run):  # noqa: F811  (the edited function)
        run.step(2.0)

    assert source_digest(train) != first and re.fullmatch(r"[0-9a-f]{8}", first)
    assert source_digest(WeightedLossTrainer) != source_digest(PlainTrainer)


class NeedsWeights(Trainer):
    def __init__(self, class_weights, **kwargs):
        super().__init__(**kwargs)


BAD_RUNNERS = [
    (dict, r"runner dict: builtins\.dict is a class but not a transformers\.Trainer subclass"),
    (42, r"runner: 42 is not a transformers\.Trainer subclass or a training function"),
    (lambda run, extra: None, r"runner <lambda>: .*<lambda> cannot be called with one argument \(the run\)"),
    (NeedsWeights, r"NeedsWeights\.__init__ needs class_weights, which the harness does not pass; "
                   r"register a @trainer_factory"),
]


@pytest.mark.parametrize("obj, pattern", BAD_RUNNERS, ids=["not a Trainer", "not callable", "two arguments",
                                                           "init needs more"])
def test_a_bad_runner_is_one_line(obj, pattern):
    with pytest.raises(ConfigError, match=pattern):
        Registry().runner(obj)


def test_a_factory_is_a_trainer_runner_and_names_are_unique():
    @trainer_factory
    def make(**kwargs):
        return NeedsWeights(class_weights=[1.0], **kwargs)

    registry = Registry()
    assert registry.runner(make).kind == "trainer" and registry.runner(course_loop).kind == "loop"
    with pytest.raises(ConfigError, match=r"runner make: the name is registered twice"):
        registry.add_runner("make", course_loop)
    with pytest.raises(ConfigError, match=r"runner trainer: the name of a built-in runner"):
        registry.add_runner("trainer", course_loop)
    with pytest.raises(ConfigError, match=r"runner name 'no such': expected letters, digits, .*; register it "
                                          r"under a name"):
        registry.add_runner("no such", course_loop)
    assert as_runner(course_loop, "x").name == "x"


@pytest.mark.parametrize("spec, pattern", [
    ("no_such_module_xyz:train", r"runner no_such_module_xyz:train: cannot import module no_such_module_xyz"),
    ("synthetic_texts:no_such", r"runner synthetic_texts:no_such: module synthetic_texts has no attribute no_such"),
    ("synthetic_texts:LABELS", r"runner LABELS: \('billing', 'bug', 'feature'\) is not a transformers\.Trainer"),
])
def test_a_bad_dotted_path_is_one_line(spec, pattern):
    with pytest.raises(ConfigError, match=pattern):
        Registry().runner(spec)


def test_a_function_that_reports_no_step_fails_before_any_record(finetune_run, tickets):
    def silent(run):
        pass

    with pytest.raises(pytest.fail.Exception, match=r"run silent/tiny on task tickets failed: runner silent: "
                                                    r"test_.*silent reported no optimizer step; call run\.step"):
        finetune_run(runner=silent, task=tickets, **SMALL)
