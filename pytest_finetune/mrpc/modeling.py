"""Where the model and tokenizer come from, checked before transformers sees them.

transformers reports a missing weight file or an unreachable Hub through several layers
of tracebacks; these checks turn each case into one line that names the folder or id and
the option that changes it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from pytest_finetune.errors import ModelError
from pytest_finetune.mrpc.sources import MODEL_HINT, TINY_RANDOM_BERT, default_model_path, hub_reachable

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1


def _check_folder(folder: Path) -> None:
    config = folder / "config.json"
    if not config.is_file():
        raise ModelError(f"model folder {folder}: no config.json; expected a Hugging Face "
                         "model folder (config.json, weights, tokenizer files)")
    try:
        json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{config}: unreadable config.json ({exc})") from None
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        raise ModelError(f"model folder {folder}: no weights; expected one of "
                         f"{', '.join(WEIGHT_FILES)}")


def resolve_model(name: str | Path | None) -> str:
    """A local folder path (checked), a Hub id usable now, or a ModelError saying what to pass."""
    if name is None or str(name) == "":
        return str(default_model_path())
    name = str(name)
    if name == TINY_RANDOM_BERT:
        return name
    folder = Path(name).expanduser()
    if folder.is_dir():
        _check_folder(folder)
        return str(folder)
    if _looks_like_path(name):
        raise ModelError(f"model folder {folder} does not exist; {MODEL_HINT}")
    if hub_reachable():
        return name
    try:  # a snapshot in the local HF cache works offline
        from huggingface_hub import snapshot_download

        return snapshot_download(name, local_files_only=True)
    except Exception:
        raise ModelError(f"model {name!r}: the Hugging Face Hub is unreachable and it is not in "
                         f"the local cache; {MODEL_HINT}") from None


def load_tokenizer(name: str | Path | None) -> PreTrainedTokenizerBase:
    """The fast tokenizer; the tiny random BERT shares the embedded model's WordPiece vocab."""
    path = resolve_model(None if name == TINY_RANDOM_BERT else name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, use_fast=True)
    except Exception as exc:
        raise ModelError(f"tokenizer of {path}: cannot load ({type(exc).__name__}: {exc})") from None
    if tokenizer.pad_token is None:
        raise ModelError(f"tokenizer of {path} has no pad token, so batches cannot be padded; "
                         "set one (e.g. tokenizer.pad_token = tokenizer.eos_token) or use a model "
                         "whose tokenizer defines [PAD]")
    return tokenizer


def tiny_random_bert(vocab_size: int = 30522, num_labels: int = 2, **overrides: Any) -> BertForSequenceClassification:
    """A 2-layer, 64-wide BERT with the real vocab: the fastest model that still trains."""
    config = BertConfig(vocab_size=vocab_size, hidden_size=64, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=128, num_labels=num_labels,
                        **overrides)
    return BertForSequenceClassification(config)


def load_model(name: str | Path | None, num_labels: int = 2, **overrides: Any) -> PreTrainedModel:
    """A sequence-classification model with a fresh ``num_labels`` head.

    ``overrides`` go to the config (e.g. dropout set to 0 for the runner-parity check).
    Call ``set_seed`` first: the new head's initial weights come from the global RNG.
    """
    if name == TINY_RANDOM_BERT:
        return tiny_random_bert(num_labels=num_labels, **overrides)
    path = resolve_model(name)
    try:
        stored = AutoConfig.from_pretrained(path)
        config = AutoConfig.from_pretrained(path, num_labels=num_labels, **overrides)
    except Exception as exc:
        raise ModelError(f"config of {path}: cannot load ({type(exc).__name__}: {exc})") from None
    is_classifier = any("ForSequenceClassification" in a for a in stored.architectures or [])
    if is_classifier and stored.num_labels != num_labels:
        raise ModelError(f"model {path} is a classifier with num_labels={stored.num_labels} but the "
                         f"data has {num_labels} labels; pass a base model (no classification "
                         "head) or one trained with the same labels")
    try:
        return AutoModelForSequenceClassification.from_pretrained(
            path, config=config, ignore_mismatched_sizes=True, trust_remote_code=False,
        )
    except Exception as exc:
        raise ModelError(f"weights of {path}: cannot load ({type(exc).__name__}: {exc})") from None


def pick_device(device: str) -> str:
    """``auto`` is cuda when available; asking for cuda without one is the user's error."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError("--finetune-device cuda: no CUDA device is available on this machine; "
                         "use --finetune-device cpu or auto")
    return device
