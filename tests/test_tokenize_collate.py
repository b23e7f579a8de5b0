"""The course's numbers for the embedded tokenizer and DataCollatorWithPadding."""
from pytest_finetune.checks.assertions import assert_collated_shapes

COURSE_LENGTHS = [50, 59, 47, 67, 59, 50, 62, 32]


def test_first_eight_pairs_tokenize_and_collate_as_in_the_course(mrpc_tokenized, data_collator):
    samples = mrpc_tokenized["train"][:8]
    samples = {k: v for k, v in samples.items() if k not in ("idx", "sentence1", "sentence2")}
    assert [len(x) for x in samples["input_ids"]] == COURSE_LENGTHS
    batch = data_collator([{k: samples[k][i] for k in samples} for i in range(8)])
    assert_collated_shapes(batch, batch_size=8, seq_len=67)


def test_token_type_ids_mark_the_two_segments(mrpc_tokenized, tokenizer):
    for row in mrpc_tokenized["train"].select(range(20)):
        ids, types = row["input_ids"], row["token_type_ids"]
        first_sep = ids.index(tokenizer.sep_token_id)
        assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
        assert set(types[: first_sep + 1]) == {0}  # [CLS] s1 [SEP]
        assert set(types[first_sep + 1:]) == {1}  # s2 [SEP]


def test_train_dataloader_gives_course_batches(train_dataloader):
    batch = next(iter(train_dataloader))
    assert_collated_shapes(batch, batch_size=8, seq_len=batch["input_ids"].shape[1])
    assert batch["attention_mask"].sum(1).max() == batch["input_ids"].shape[1]  # padded to longest


def test_train_dataloader_order_is_seeded(mrpc_model_inputs, data_collator):
    from pytest_finetune.mrpc.preprocessing import train_dataloader

    first = [next(iter(train_dataloader(mrpc_model_inputs["train"], data_collator, seed=7)))["labels"]
             for _ in range(2)]
    assert first[0].tolist() == first[1].tolist()


def test_tokenization_is_cached_on_disk(mrpc_tokenized):
    for split in mrpc_tokenized.values():
        assert split.cache_files, "tokenized split is in memory only: map() results are not cached"


def test_tokenization_cache_is_reused_by_a_second_map(mrpc_raw, tokenizer, mrpc_tokenized):
    from pytest_finetune.mrpc.preprocessing import tokenize_mrpc

    again = tokenize_mrpc(mrpc_raw, tokenizer)
    for name in mrpc_tokenized:
        assert again[name].cache_files == mrpc_tokenized[name].cache_files
        assert again[name]._fingerprint == mrpc_tokenized[name]._fingerprint
