"""Tokenizing pairs (``mrpc.preprocessing``): a length limit must leave a pair a pair."""
import pytest
from datasets import Dataset, DatasetDict

from pytest_finetune.errors import ConfigError
from pytest_finetune.mrpc.preprocessing import tokenize_mrpc

PAIRS = {"sentence1": ["A cat sat on the mat ."], "sentence2": ["The cat sat down ."], "label": [1], "idx": [0]}


@pytest.mark.parametrize("max_length", [1, 3, 4])
def test_a_max_length_that_leaves_no_room_for_both_sentences_is_refused(tokenizer, max_length):
    """BERT adds 3 special tokens to a pair: at or below that the tokenizer ignores the limit,
    one above it keeps a single word of one sentence."""
    raw = DatasetDict({"train": Dataset.from_dict(PAIRS)})
    with pytest.raises(ConfigError, match=rf"max_length: {max_length} leaves no room for a sentence pair: "
                                          r"the tokenizer adds 3 special tokens .*expected max_length >= 5"):
        tokenize_mrpc(raw, tokenizer, max_length)


def test_the_shortest_allowed_length_keeps_a_token_of_each_sentence(tokenizer):
    row = tokenize_mrpc(DatasetDict({"train": Dataset.from_dict(PAIRS)}), tokenizer, 5)["train"][0]
    assert row["token_type_ids"] == [0, 0, 0, 1, 1] and len(row["input_ids"]) == 5
