"""The course's numbers for the tokenizer and ``DataCollatorWithPadding`` on real MRPC pairs.

Chapter 3 of the Hugging Face course prints the token lengths of the first eight training
pairs and the shape of their padded batch; a tokenizer or collator upgrade that changes
either changes what every fine-tuning run sees.
"""
import pytest

from pytest_finetune.baselines.scenario import model_label
from pytest_finetune.checks.assertions import assert_collated_shapes
from pytest_finetune.checks.properties import check_segments

COURSE_LENGTHS = [50, 59, 47, 67, 59, 50, 62, 32]
# The course's lengths hold for the bert-base-uncased vocabulary, which the embedded
# all-MiniLM-L6-v2 shares; other models are guarded by the drift fingerprints instead.
COURSE_VOCABULARY_MODELS = ("all-MiniLM-L6-v2", "bert-base-uncased")


def test_first_eight_pairs_tokenize_and_collate_as_in_the_course(finetune_settings, mrpc_tokenized, data_collator):
    if model_label(finetune_settings.model) not in COURSE_VOCABULARY_MODELS:
        pytest.skip(f"the course's token lengths are for the bert-base-uncased vocabulary, not "
                    f"{finetune_settings.model}; test_drift.py guards this model's tokenization")
    samples = mrpc_tokenized["train"][:8]
    samples = {k: v for k, v in samples.items() if k not in ("idx", "sentence1", "sentence2")}
    assert [len(x) for x in samples["input_ids"]] == COURSE_LENGTHS
    batch = data_collator([{k: samples[k][i] for k in samples} for i in range(8)])
    assert_collated_shapes(batch, batch_size=8, seq_len=67)


def test_token_type_ids_mark_the_two_segments(mrpc_tokenized, tokenizer):
    """[CLS] s1 [SEP] s2 [SEP] with segment ids 0 then 1; for a model without segment ids
    (RoBERTa, DistilBERT) ``check_segments`` checks the separator that then marks the pair."""
    rows = [dict(row) for row in mrpc_tokenized["train"].select(range(20))]
    check_segments(rows, tokenizer)
    for row in rows:
        assert row["input_ids"][0] == tokenizer.cls_token_id and row["input_ids"][-1] == tokenizer.sep_token_id


def test_train_dataloader_gives_course_batches(train_dataloader):
    batch = next(iter(train_dataloader))
    assert_collated_shapes(batch, batch_size=8, seq_len=batch["input_ids"].shape[1])
    assert batch["attention_mask"].sum(1).max() == batch["input_ids"].shape[1]  # padded to longest


def test_train_dataloader_order_is_seeded(mrpc_model_inputs, data_collator):
    from pytest_finetune.mrpc.preprocessing import train_dataloader

    first = [next(iter(train_dataloader(mrpc_model_inputs["train"], data_collator, seed=7)))["labels"]
             for _ in range(2)]
    assert first[0].tolist() == first[1].tolist()
