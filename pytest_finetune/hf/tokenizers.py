"""What a tokenizer is, as data: a digest of what it does (cache keys) and what
``AutoTokenizer`` resolved (a drift fingerprint).

transformers 5.x resolves some checkpoints to another tokenizer class than 4.x did, with
other special-token ids (transformers issue 45701; mteb PR 5377 pinned around it): a
fingerprint of the resolved class, special tokens, padding side and length limit says so
in a second, before a run trains on differently encoded text.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, Iterable, Mapping

from datasets import Dataset, DatasetDict
from datasets.fingerprint import Hasher
from transformers import PreTrainedTokenizerBase

from pytest_finetune.hf.cache import checked_map_cache


def tokenizer_digest(tokenizer: PreTrainedTokenizerBase) -> str:
    """What the tokenizer does, as a hash: its serialized pipeline, not its Python object.

    The backend's ``truncation``/``padding`` entries are left out: a fast tokenizer records
    the last call's settings there, so a tokenizer that has been used once would otherwise
    hash differently and every session would re-tokenize. Each map call passes its own.
    The Python-side settings that change the output are added: ``model_max_length`` (where
    ``truncation=True`` cuts without a max_length), the truncation side, and
    ``model_input_names`` (whether token_type_ids are returned).
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        pipeline = json.loads(backend.to_str())
        pipeline.pop("truncation", None)
        pipeline.pop("padding", None)
        described = json.dumps(pipeline, sort_keys=True)
    else:
        described = Hasher.hash(tokenizer)
    settings = json.dumps({"model_max_length": tokenizer.model_max_length,
                           "truncation_side": tokenizer.truncation_side,
                           "model_input_names": list(tokenizer.model_input_names)}, sort_keys=True)
    return hashlib.sha256(f"{type(tokenizer).__name__}|{described}|{settings}".encode()).hexdigest()[:16]


def tokenize_splits(raw: Mapping[str, Dataset], tokenizer: PreTrainedTokenizerBase, encode: Callable[[dict], dict],
                    version: str, max_length: int | None, what: str, splits: Iterable[str] | None = None,
                    remove_columns: Iterable[str] = ()) -> DatasetDict:
    """``Dataset.map(encode, batched=True)`` over each split (all of ``raw`` by default),
    cached on disk when the split is file-backed: the one home of every task's tokenization.

    The fingerprint is given explicitly, ``(version, the split's fingerprint, the tokenizer's
    digest, max_length)``: datasets' own hash of the ``encode`` closure can fail, and it then
    falls back to a random one and silently re-tokenizes every session. The cache file is
    verified before reuse (``hf.cache.checked_map_cache``). ``what`` names the data in the
    progress bar and in warnings ("MRPC", a task's name); ``remove_columns`` that a split does
    not have are ignored.
    """
    digest, drop, tokenized = tokenizer_digest(tokenizer), tuple(remove_columns), {}
    for name in (raw if splits is None else splits):
        split = raw[name]
        fingerprint = Hasher.hash((version, split._fingerprint, digest, max_length))
        with checked_map_cache(split, fingerprint, f"tokenized {what} {name}") as cache_file:
            tokenized[name] = split.map(encode, batched=True, desc=f"Tokenizing {what} {name}",
                                        new_fingerprint=fingerprint, cache_file_name=cache_file,
                                        remove_columns=[c for c in drop if c in split.column_names])
    return DatasetDict(tokenized)


def tokenizer_resolution(tokenizer: PreTrainedTokenizerBase) -> dict[str, Any]:
    """What ``AutoTokenizer`` resolved: class, special tokens and their ids, padding and
    truncation side, length limit, vocabulary size and the inputs it returns."""
    special = {name: [str(token), tokenizer.convert_tokens_to_ids(str(token))]
               for name, token in sorted(tokenizer.special_tokens_map.items()) if isinstance(token, str)}
    return {
        "class": type(tokenizer).__name__,
        "is_fast": bool(getattr(tokenizer, "is_fast", False)),
        "special_tokens": special,
        "padding_side": tokenizer.padding_side,
        "truncation_side": tokenizer.truncation_side,
        "model_max_length": int(min(tokenizer.model_max_length, 2**63 - 1)),
        "vocab_size": len(tokenizer),
        "model_input_names": list(tokenizer.model_input_names),
    }
