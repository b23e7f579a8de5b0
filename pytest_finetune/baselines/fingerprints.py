"""Drift guards that need no training: hashes of what the tokenizer and collator produce,
and the model's logits on fixed inputs before training.

After an upgrade these catch a tokenizer or collator change in a second on CPU, and say
which example changed first, before anyone waits minutes for a training run to drift.
"""
from __future__ import annotations

import hashlib
from typing import Any, Sequence

import torch

from pytest_finetune.tasks.builtin import FIXED_PAIRS  # MRPC's fixed inputs live with its task


def _digest(values: Sequence[Any]) -> str:
    return hashlib.sha256(repr(list(values)).encode()).hexdigest()[:16]


TOKENIZED_KEYS = ("input_ids", "token_type_ids", "attention_mask")


def tokenized_fingerprint(dataset) -> dict[str, Any]:
    """One short hash per example plus one for the whole split.

    Hashes the model inputs the tokenizer produced: DistilBERT's and RoBERTa's have no
    ``token_type_ids``, BERT's hashes are the same as before such models were allowed.
    """
    per_example = [_digest(tuple(row[key] for key in TOKENIZED_KEYS if key in row)) for row in dataset]
    return {"examples": len(per_example), "sha256": _digest(per_example), "per_example": per_example}


def collated_fingerprint(batches) -> list[dict[str, Any]]:
    return [{"shapes": {k: list(v.shape) for k, v in sorted(batch.items())},
             "sha256": _digest([batch[k].tolist() for k in sorted(batch)])} for batch in batches]


@torch.inference_mode()
def initial_logits(model, tokenizer) -> list[list[float]]:
    model.eval()
    batch = tokenizer([a for a, _ in FIXED_PAIRS], [b for _, b in FIXED_PAIRS], padding=True,
                      return_tensors="pt")
    return [[round(float(x), 6) for x in row] for row in model(**batch).logits]


def explain_tokenized_change(old: dict[str, Any], new: dict[str, Any], dataset, tokenizer) -> str:
    if old["examples"] != new["examples"]:
        return f"validation split has {new['examples']} examples, baseline {old['examples']}"
    for i, (a, b) in enumerate(zip(old["per_example"], new["per_example"])):
        if a != b:
            row = dataset[i]
            text = tokenizer.convert_ids_to_tokens(row["input_ids"])
            return (f"first changed example: idx {i}, now {len(row['input_ids'])} tokens: "
                    f"{' '.join(text)}")
    return "per-example hashes equal but the split hash differs"
