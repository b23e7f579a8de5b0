"""Tokenization and batching exactly as the HF course, chapter 3, does them.

No padding at map time: ``DataCollatorWithPadding`` pads each batch to its own longest
example (dynamic padding), which is what the collated-shape assertions check.
"""
from __future__ import annotations

import torch
from datasets import DatasetDict
from torch.utils.data import DataLoader
from transformers import DataCollatorWithPadding, PreTrainedTokenizerBase

SENTENCE_COLUMNS = ("sentence1", "sentence2")


def tokenize_mrpc(raw: DatasetDict, tokenizer: PreTrainedTokenizerBase,
                  max_length: int | None = None) -> DatasetDict:
    """``Dataset.map(batched=True)``: cached on disk when ``raw`` is file-backed."""

    def tokenize(batch: dict) -> dict:
        return tokenizer(batch["sentence1"], batch["sentence2"], truncation=True,
                         max_length=max_length)

    return raw.map(tokenize, batched=True, desc="Tokenizing MRPC")


def model_inputs(tokenized: DatasetDict) -> DatasetDict:
    """The course's clean-up: drop text columns, ``label`` -> ``labels``, torch format."""
    drop = [c for c in (*SENTENCE_COLUMNS, "idx") if c in tokenized["train"].column_names]
    ready = tokenized.remove_columns(drop).rename_column("label", "labels")
    ready.set_format("torch")
    return ready


def make_collator(tokenizer: PreTrainedTokenizerBase, **kwargs) -> DataCollatorWithPadding:
    return DataCollatorWithPadding(tokenizer=tokenizer, **kwargs)


def train_dataloader(dataset, collator, batch_size: int = 8, seed: int = 42) -> DataLoader:
    """Shuffled with its own seeded generator, so the order does not depend on test order."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, shuffle=True, batch_size=batch_size, collate_fn=collator,
                      generator=generator)


def eval_dataloader(dataset, collator, batch_size: int = 8) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, collate_fn=collator)
