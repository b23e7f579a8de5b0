"""Fixtures and helpers shared by the padding guards and the plugin's own tests of the checks.

The guard modules (``test_padding``) check the user's tokenizer and collator; the repo's
``tests/test_padding_properties.py`` proves that each check can fail. Both need the same
per-side tokenizer copies, the same single-threaded model and the same way to collate, so
they live here once (a module pytest does not collect).
"""
from __future__ import annotations

import copy
from typing import Any, Sequence

import pytest
import torch
import transformers

from pytest_finetune.mrpc.modeling import load_model, load_tokenizer
from pytest_finetune.mrpc.preprocessing import make_collator

# The repo's own property tests build their strategies at import time from this tokenizer;
# the guard modules draw from the session `tokenizer` (whatever --finetune-model is).
TOKENIZER = load_tokenizer(None)
PAIRS = [("The cat sat on the mat.", "A cat was sitting on a mat."), ("Hello", "hi"),
         ("Shares rose 3.5 percent on Tuesday in Tokyo .", "")]


@pytest.fixture(scope="module")
def sided(tokenizer):
    """Copies of the session tokenizer per padding side: the shared one is never mutated."""
    copies = {}
    for side in ("right", "left"):
        copies[side] = copy.deepcopy(tokenizer)
        copies[side].padding_side = side
    return copies


@pytest.fixture(scope="module")
def model(finetune_settings):
    """The session's classifier (default: the embedded 22.7M-parameter MiniLM), loaded once
    per module and run on one intra-op thread.

    These forwards are a few short rows each: on a loaded 2-core runner, two OpenMP threads
    waiting for each other at every op made one forward ~70x slower than a single thread
    (0.75 s against 0.01 s). The thread count is restored when the module is done.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        transformers.set_seed(0)
        yield load_model(finetune_settings.model, num_labels=2).eval()
    finally:
        torch.set_num_threads(threads)


def collate(sided: dict, features: Sequence[dict], options: dict[str, Any]) -> tuple[dict, Any]:
    """Collate like the Trainer would, with the drawn settings; returns (batch, tokenizer)."""
    tokenizer = sided[options["padding_side"]]
    kwargs = {k: v for k, v in options.items() if k != "padding_side"}
    return make_collator(tokenizer, **kwargs)([dict(f) for f in features]), tokenizer


def features_of(tokenizer, pairs: Sequence[tuple[str, str]], labels: Sequence[int] | None = None,
                **kwargs: Any) -> list[dict]:
    """Tokenize ``pairs`` (truncated) into collator features with a label each."""
    encoded = tokenizer([a for a, _ in pairs], [b for _, b in pairs], truncation=True, **kwargs)
    return [{**{k: list(encoded[k][i]) for k in encoded}, "labels": (labels or [0, 1] * 8)[i]}
            for i in range(len(pairs))]
