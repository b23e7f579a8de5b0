"""The causal-LM task on both runners: it trains, its baseline holds, its inputs did not drift.

A 2-layer GPT-2 built from a config (``tiny-random-gpt2``) learns next tokens of the first
32 MRPC sentences (tiny profile: cut to 32 tokens, 5 epochs of batch 8, 20 steps, at the
task's own learning rate 3e-3). Its loss averages over tokens, so a release that changes how
Trainer or accelerate normalize a token-level loss moves this curve where a classifier's
barely moves.

The full profile (``-m full``: all 7,336 train sentences, 2 epochs of batch 16, 918 steps,
about 2 minutes per runner on 2 CPU cores) must also beat a model of token frequencies alone
(``token_frequency_perplexity``), the causal-LM counterpart of the majority class.
"""
import pytest

from pytest_finetune.checks.assertions import assert_loss_decreases
from pytest_finetune.tasks.causal_lm import CausalLM, token_frequency_perplexity

TASK = "mrpc-lm"


@pytest.mark.parametrize("runner", ["trainer", "loop"])
def test_causal_lm_tiny_run_learns_and_matches_baseline(finetune_run, finetune_baseline, runner):
    result = finetune_run(runner=runner, task=TASK)
    assert len(result.losses) == 20 and result.config.model == "tiny-random-gpt2"
    assert_loss_decreases(result, min_relative_drop=0.15)
    assert sorted(result.metrics) == ["perplexity", "token_accuracy"] and result.prediction_counts == []
    finetune_baseline.check(result)


@pytest.mark.full
@pytest.mark.parametrize("runner", ["trainer", "loop"])
def test_causal_lm_full_run_beats_token_frequencies_and_matches_baseline(pytestconfig, finetune_settings, finetune_run,
                                                                         finetune_baseline, runner):
    from pytest_finetune.mrpc.modeling import load_tokenizer
    from pytest_finetune.plugin.data_fixtures import load_task_data

    result = finetune_run(runner=runner, task=TASK, profile="full")
    assert_loss_decreases(result, min_relative_drop=0.1)  # recorded seeds: 14 % on both runners
    task, tokenizer = CausalLM(), load_tokenizer(None)
    ready = task.tokenize(load_task_data(pytestconfig, finetune_settings, task), tokenizer, result.config.max_length)
    floor = token_frequency_perplexity(ready["train"]["input_ids"], ready["validation"]["input_ids"], len(tokenizer))
    assert result.metrics["perplexity"] < floor, (
        f"{runner}/full: perplexity {result.metrics['perplexity']:.1f} is not below {floor:.1f}, what the train "
        "split's token frequencies alone give: the decoder learnt no context")
    finetune_baseline.check(result)


def test_causal_lm_inputs_did_not_drift(finetune_drift):
    # What AutoTokenizer resolved is left out: its class is BertTokenizerFast on transformers
    # 4.x and BertTokenizer on 5.x, and this suite runs on both (the MRPC drift guard keeps the
    # same three fingerprints).
    finetune_drift.check(task=TASK, fingerprints=("tokenized_validation", "collated_batches", "initial_logits"))
