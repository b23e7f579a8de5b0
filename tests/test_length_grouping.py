"""The length-grouped sampler that the full profile uses: less padding, same examples.

The full profile's time budget rests on it, so a change that quietly turned it off (or
made it drop or repeat examples) must fail here rather than show up as a slow CI job.
"""
import math

import pytest
import torch

from pytest_finetune.mrpc.preprocessing import example_lengths, padded_tokens
from pytest_finetune.runs import profile_config
from pytest_finetune.runs.loop import train_order
from pytest_finetune.runs.prepare import Prepared
from pytest_finetune.baselines.scenario import scenario_name, scenario_of

BATCH = profile_config("full").batch_size


@pytest.fixture(scope="module")
def train_split(mrpc_model_inputs):
    return mrpc_model_inputs["train"]


def _order(train_split, seed):
    """Two epochs of the manual loop's order under the full profile."""
    config = profile_config("full", runner="loop", seed=seed)
    prepared = Prepared(config, "cpu", None, None, train_split, None, None)
    sampler = train_order(prepared)["sampler"]
    return list(sampler), list(sampler)


@pytest.fixture(scope="module")
def seed_42_epochs(train_split):
    return _order(train_split, seed=42)


def test_full_profile_groups_by_length_in_both_runners():
    for runner in ("trainer", "loop"):
        config = profile_config("full", runner=runner)
        assert config.group_by_length
        assert scenario_name(scenario_of(config, "cpu")).endswith("-group_by_length")


def test_grouped_order_covers_every_example_once_per_epoch(train_split, seed_42_epochs):
    first, second = seed_42_epochs
    assert sorted(first) == sorted(second) == list(range(len(train_split)))
    assert first != second, "each epoch should draw a new grouping"
    assert _order(train_split, seed=42)[0] == first, "not reproducible per seed"
    assert _order(train_split, seed=43)[0] != first


def test_grouped_order_runs_far_fewer_padded_tokens(train_split, seed_42_epochs):
    lengths = example_lengths(train_split)
    grouped = padded_tokens(lengths, seed_42_epochs[0], BATCH)
    shuffled = padded_tokens(lengths, torch.randperm(len(lengths), generator=torch.Generator().manual_seed(42)).tolist(),
                             BATCH)
    real = sum(lengths)
    # Measured on MRPC train, batch 16: 29.8 % of the tokens run are padding in random order,
    # 1.5-1.7 % grouped (seeds 42-44), so grouped batches run 0.71x the tokens.
    assert grouped < 0.8 * shuffled, (grouped, shuffled)
    assert grouped < 1.1 * real, f"grouped batches still pad {grouped / real - 1:.1%} on top of {real} tokens"
    assert math.ceil(len(lengths) / BATCH) == 230
