"""Drift guards that need no training: hashes of what the tokenizer and collator produce,
and the model's logits on fixed inputs before training.

After an upgrade these catch a tokenizer or collator change in a second on CPU, and say
which example changed first, before anyone waits minutes for a training run to drift.
"""
from __future__ import annotations

import hashlib
import itertools
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


FIXED_ROWS = 8  # validation rows whose untrained logits a task's fingerprint keeps


@torch.inference_mode()
def rows_logits(model, collator, rows, task=None) -> list[list[float]]:
    """The untrained model's logits on ``rows`` (tokenized examples), one padded batch; for a
    token-level task what its ``fixed_outputs`` keep of them (``tasks.base``)."""
    from pytest_finetune.tasks.base import fixed_outputs

    model.eval()
    batch = collator([{k: v for k, v in dict(row).items() if k != "labels"} for row in rows])
    labels = batch.pop("labels", None) if task is None or not hasattr(task, "fixed_outputs") else batch.get("labels")
    outputs = fixed_outputs(task, model(**batch).logits, labels)
    return [[round(float(x), 6) for x in row] for row in outputs]


def task_fingerprints(task, ready, tokenizer, collator, model) -> list[tuple[str, Any, float, Any]]:
    """A task's drift fingerprints: (name, value, atol, explain(old, new) or None).

    What ``AutoTokenizer`` resolved (class, special tokens and ids, padding side, length
    limit), the tokenized validation split, the first collated batches (4 of the validation
    split in order, 2 of the train split in a seeded order) and the untrained model's logits
    on the first validation rows. The logits get the MRPC fingerprint's tolerance (1e-4):
    kernels may round the last digits differently between releases.
    """
    from pytest_finetune.baselines.check import changed_keys
    from pytest_finetune.hf.tokenizers import tokenizer_resolution
    from pytest_finetune.mrpc.preprocessing import eval_dataloader, train_dataloader

    validation = ready["validation"].with_format(None)
    batches = list(itertools.islice(eval_dataloader(ready["validation"], collator), 4))
    batches += list(itertools.islice(train_dataloader(ready["train"], collator, seed=42), 2))
    first_rows = validation.select(range(min(FIXED_ROWS, len(validation))))
    return [
        ("tokenizer_resolved", tokenizer_resolution(tokenizer), 0.0, changed_keys),
        ("tokenized_validation", tokenized_fingerprint(validation), 0.0,
         lambda old, new: explain_tokenized_change(old, new, validation, tokenizer)),
        ("collated_batches", collated_fingerprint(batches), 0.0, explain_collated_change),
        ("initial_logits", rows_logits(model, collator, first_rows, task), 1e-4, None),
    ]


def explain_collated_change(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> str:
    """Which collated batch changed first, and whether its shapes did."""
    if len(old) != len(new):
        return f"{len(new)} batches now, {len(old)} stored"
    for index, (a, b) in enumerate(zip(old, new)):
        if a != b:
            shapes = ("shapes now " + ", ".join(f"{k} {v}" for k, v in b["shapes"].items())
                      + " (stored " + ", ".join(f"{k} {v}" for k, v in a["shapes"].items()) + ")"
                      if a["shapes"] != b["shapes"] else "same shapes, other values")
            return f"first changed batch: {index} of {len(new)} ({shapes})"
    return "the batches are equal"
