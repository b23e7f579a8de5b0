"""The causal-LM task on both runners: it trains, its baseline holds, its inputs did not drift.

A 2-layer GPT-2 built from a config (``tiny-random-gpt2``) learns next tokens of the first
32 MRPC sentences (tiny profile: cut to 32 tokens, 5 epochs of batch 8, 20 steps, at the
task's own learning rate 3e-3). Its loss averages over tokens, so a release that changes how
Trainer or accelerate normalize a token-level loss moves this curve where a classifier's
barely moves.
"""
import pytest

from pytest_finetune.checks.assertions import assert_loss_decreases

TASK = "mrpc-lm"


@pytest.mark.parametrize("runner", ["trainer", "loop"])
def test_causal_lm_tiny_run_learns_and_matches_baseline(finetune_run, finetune_baseline, runner):
    result = finetune_run(runner=runner, task=TASK)
    assert len(result.losses) == 20 and result.config.model == "tiny-random-gpt2"
    assert_loss_decreases(result, min_relative_drop=0.15)
    assert sorted(result.metrics) == ["perplexity", "token_accuracy"] and result.prediction_counts == []
    finetune_baseline.check(result)


def test_causal_lm_inputs_did_not_drift(finetune_drift):
    # What AutoTokenizer resolved is left out: its class is BertTokenizerFast on transformers
    # 4.x and BertTokenizer on 5.x, and this suite runs on both (the MRPC drift guard keeps the
    # same three fingerprints).
    finetune_drift.check(task=TASK, fingerprints=("tokenized_validation", "collated_batches", "initial_logits"))
