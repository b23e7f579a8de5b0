"""Tokenization and batching exactly as the HF course, chapter 3, does them.

No padding at map time: ``DataCollatorWithPadding`` pads each batch to its own longest
example (dynamic padding), which is what the collated-shape assertions check.
"""
from __future__ import annotations

from typing import Sequence

import torch
from datasets import Dataset, DatasetDict
from torch.utils.data import DataLoader
from transformers import DataCollatorWithPadding, PreTrainedTokenizerBase

from pytest_finetune.errors import ConfigError
# tokenizer_digest's home is hf; still importable from here.
from pytest_finetune.hf.tokenizers import tokenize_splits, tokenizer_digest  # noqa: F401

SENTENCE_COLUMNS = ("sentence1", "sentence2")


def check_pair_length(tokenizer: PreTrainedTokenizerBase, max_length: int | None) -> None:
    """A ``max_length`` that leaves each sentence of a pair at least one token.

    The tokenizer adds its special tokens to every pair (BERT: 3, RoBERTa: 4); at or below
    that it ignores the limit with a warning, and one token above it keeps a single word
    of one sentence: either way the run trains on something that is no longer a pair.
    """
    if max_length is None:
        return
    special = tokenizer.num_special_tokens_to_add(pair=True)
    if max_length < special + 2:
        raise ConfigError(f"max_length: {max_length} leaves no room for a sentence pair: the tokenizer adds "
                          f"{special} special tokens to each pair; expected max_length >= {special + 2} "
                          "(a token of each sentence at least) or None")


def tokenize_mrpc(raw: DatasetDict, tokenizer: PreTrainedTokenizerBase,
                  max_length: int | None = None) -> DatasetDict:
    """``Dataset.map(batched=True)``: cached on disk when ``raw`` is file-backed.

    The fingerprint is given explicitly: datasets' own hashing of the closure can fail
    (it then falls back to a random hash and silently re-tokenizes every session). The
    cache file is verified before reuse (``hf.tokenizers.tokenize_splits``).
    """

    check_pair_length(tokenizer, max_length)

    def tokenize(batch: dict) -> dict:
        return tokenizer(batch["sentence1"], batch["sentence2"], truncation=True,
                         max_length=max_length)

    return tokenize_splits(raw, tokenizer, tokenize, "tokenize-v1", max_length, "MRPC")


def model_inputs(tokenized: DatasetDict) -> DatasetDict:
    """The course's clean-up: drop text columns, ``label`` -> ``labels``, torch format."""
    drop = [c for c in (*SENTENCE_COLUMNS, "idx") if c in tokenized["train"].column_names]
    ready = tokenized.remove_columns(drop).rename_column("label", "labels")
    ready.set_format("torch")
    return ready


def example_lengths(dataset: Dataset) -> list[int]:
    """Tokens per example, read as plain lists (the torch format would build a tensor per row)."""
    return [len(ids) for ids in dataset.with_format(None)["input_ids"]]


def padded_tokens(lengths: Sequence[int], order: Sequence[int], batch_size: int) -> int:
    """Tokens a pass over ``order`` runs when each batch is padded to its longest example."""
    total = 0
    for start in range(0, len(order), batch_size):
        batch = [lengths[i] for i in order[start:start + batch_size]]
        total += len(batch) * max(batch)
    return total


def make_collator(tokenizer: PreTrainedTokenizerBase, **kwargs) -> DataCollatorWithPadding:
    return DataCollatorWithPadding(tokenizer=tokenizer, **kwargs)


def train_dataloader(dataset, collator, batch_size: int = 8, seed: int = 42) -> DataLoader:
    """Shuffled with its own seeded generator, so the order does not depend on test order."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, shuffle=True, batch_size=batch_size, collate_fn=collator,
                      generator=generator)


def eval_dataloader(dataset, collator, batch_size: int = 8) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, collate_fn=collator)
