"""Drift guards without training: tokenizer, collator and untrained-model outputs vs stored."""
import itertools

from transformers import set_seed

from pytest_finetune.baselines.fingerprints import (collated_fingerprint, explain_tokenized_change,
                                          initial_logits, tokenized_fingerprint)
from pytest_finetune.mrpc.modeling import load_model
from pytest_finetune.mrpc.preprocessing import eval_dataloader, train_dataloader
from pytest_finetune.baselines.scenario import model_label


def test_tokenized_validation_unchanged(finetune_settings, mrpc_tokenized, tokenizer, finetune_baseline):
    split = mrpc_tokenized["validation"]
    finetune_baseline.check_fingerprint(
        model_label(finetune_settings.model), "tokenized_validation", tokenized_fingerprint(split),
        explain=lambda old, new: explain_tokenized_change(old, new, split, tokenizer))


def test_first_collated_batches_unchanged(finetune_settings, mrpc_model_inputs, data_collator, finetune_baseline):
    batches = list(itertools.islice(eval_dataloader(mrpc_model_inputs["validation"], data_collator), 4))
    batches += list(itertools.islice(train_dataloader(mrpc_model_inputs["train"], data_collator, seed=42), 2))
    finetune_baseline.check_fingerprint(model_label(finetune_settings.model), "collated_batches",
                                        collated_fingerprint(batches))


def test_untrained_model_logits_unchanged(finetune_settings, tokenizer, finetune_baseline):
    set_seed(0)  # the classification head is freshly drawn
    model = load_model(finetune_settings.model, num_labels=2)
    finetune_baseline.check_fingerprint(model_label(finetune_settings.model), "initial_logits",
                                        initial_logits(model, tokenizer), atol=1e-4)
