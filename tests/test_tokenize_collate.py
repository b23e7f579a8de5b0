"""Tokenization is cached on disk and reused (the plugin's own behaviour, not the user's stack).

The course's lengths, segments and batches of the real tokenizer are guards and ship in
``pytest_finetune/guard/test_tokenization.py``.
"""


def test_tokenization_is_cached_on_disk(mrpc_tokenized):
    for split in mrpc_tokenized.values():
        assert split.cache_files, "tokenized split is in memory only: map() results are not cached"


def test_tokenization_cache_is_reused_by_a_second_map(mrpc_raw, tokenizer, mrpc_tokenized):
    from pytest_finetune.mrpc.preprocessing import tokenize_mrpc

    again = tokenize_mrpc(mrpc_raw, tokenizer)
    for name in mrpc_tokenized:
        assert again[name].cache_files == mrpc_tokenized[name].cache_files
        assert again[name]._fingerprint == mrpc_tokenized[name]._fingerprint
