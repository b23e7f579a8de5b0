"""Validated splits cached as Arrow, and ``Dataset.map`` caches, each checked before reuse.

A task reads its source files strictly once, saves the validated splits with
``save_to_disk`` and reloads them from there: the file-backed copy is what makes
``Dataset.map`` tokenization cacheable across sessions (in-memory datasets are not). The
cache is verified against a record of its own files (sizes and SHA-256) before each reuse,
because a cache that is silently wrong trains on the wrong rows; a damaged one is rebuilt
with a one-line warning. Entries are keyed by the source's content digest, the cache format
and the ``datasets`` release (``compat.versions.arrow_cache_tag``).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

import datasets
from datasets import Dataset, DatasetDict

from pytest_finetune._io import ORPHAN_AGE_S, atomic_write_text, dumps_json, file_lock, is_old  # noqa: F401  (re-exported)
from pytest_finetune.compat.versions import arrow_cache_tag
from pytest_finetune.config.options import OPTIONS_BY_DEST
from pytest_finetune.errors import ConfigError

# The cache's integrity record: which files save_to_disk wrote, with their sizes and hashes.
MANIFEST_NAME = "pytest-finetune-cache.json"
CACHE_FORMAT = 3  # raise when validation or layout changes: older entries are then left unused
# A temporary cache entry older than _io.ORPHAN_AGE_S was left by a killed process: removed.
# Younger ones may be another process's work in progress: left alone (and never read).


class DataCacheWarning(UserWarning):
    """A cached copy of a task's data (raw or tokenized) was found corrupt and rebuilt."""


@contextlib.contextmanager
def quiet_datasets() -> Iterator[None]:
    """No progress bar or log line from ``datasets`` in the block ("Generating train split",
    "Saving the dataset"): validated data is written where nobody watches; settings restored."""
    from datasets.utils import logging as datasets_logging

    bars, level = datasets.is_progress_bar_enabled(), datasets_logging.get_verbosity()
    datasets.disable_progress_bars()
    datasets_logging.set_verbosity_error()
    try:
        yield
    finally:
        datasets_logging.set_verbosity(level)
        if bars:
            datasets.enable_progress_bars()


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pytest-finetune"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _manifest(folder: Path, source_digest: str) -> dict[str, Any]:
    """Every file of a freshly saved cache with its size and hash (map caches come later)."""
    files = {str(p.relative_to(folder)): {"size": p.stat().st_size, "sha256": file_sha256(p)}
             for p in sorted(folder.rglob("*")) if p.is_file()}
    return {"format": CACHE_FORMAT, "source_sha256": source_digest, "files": files}


def _cache_problem(target: Path, source_digest: str) -> str | None:
    """Why the cache at ``target`` cannot be trusted, or None when every file is as written."""
    try:
        manifest = json.loads((target / MANIFEST_NAME).read_text(encoding="utf-8"))
        files = manifest["files"]
        ok = manifest["format"] == CACHE_FORMAT and manifest["source_sha256"] == source_digest
    except FileNotFoundError:
        return f"no {MANIFEST_NAME} (deleted, or written by an older pytest-finetune)"
    except (OSError, ValueError, KeyError, TypeError):
        return f"{MANIFEST_NAME} is unreadable"
    if not ok or not isinstance(files, dict) or "dataset_dict.json" not in files:
        return f"{MANIFEST_NAME} describes another cache"
    for name, expected in files.items():
        path = target / name
        try:
            if path.stat().st_size != expected["size"] or file_sha256(path) != expected["sha256"]:
                return f"{name} differs from what was written (truncated or replaced)"
        except FileNotFoundError:
            return f"{name} is missing"
        except (OSError, KeyError, TypeError) as exc:
            return f"{name} cannot be checked ({getattr(exc, 'strerror', None) or exc})"
    return None


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except OSError:
            pass


def _remove_orphans(root: Path) -> None:
    """Delete what killed processes left: ``.tmp-*`` cache folders, ``*.tmp`` files, and the
    ``tmp*`` files ``Dataset.map`` writes beside a cache before renaming them. Only old ones:
    a young one may be another process's work in progress (it is never read either way)."""
    now = time.time()
    for entry in root.iterdir():
        if entry.name.startswith(".tmp-") or entry.name.endswith(".tmp"):
            if is_old(entry, now):
                remove(entry)
        elif entry.is_dir() and not entry.is_symlink():
            for split_dir in (p for p in entry.iterdir() if p.is_dir()):
                for leftover in split_dir.iterdir():
                    if (leftover.name.startswith("tmp") or leftover.name.endswith(".tmp")) \
                            and leftover.is_file() and is_old(leftover, now):
                        remove(leftover)


def cache_root(cache_dir: str | Path | None, kind: str) -> Path:
    """``<cache folder>/<kind>``, created; a folder that cannot be made is one ConfigError."""
    root = (Path(cache_dir).expanduser() if cache_dir else default_cache_dir()) / kind
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _cache_error("create", root, exc) from None
    return root


def _cache_error(action: str, root: Path, exc: OSError) -> ConfigError:
    return ConfigError(f"{OPTIONS_BY_DEST['cache_dir'].describe()}: cannot {action} the cache folder "
                       f"{root} ({exc.strerror or exc}); expected a writable folder")


def _save(target: Path, splits: dict[str, Dataset], source_digest: str) -> None:
    """Save validated splits as Arrow, complete or not at all.

    Written to a temporary folder with its manifest and renamed into place, so a killed
    session never leaves a half-written cache that a later session would trust.
    """
    try:
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
    except OSError as exc:
        raise _cache_error("write to", target.parent, exc) from None
    try:
        with quiet_datasets():
            DatasetDict(splits).save_to_disk(str(tmp))
        (tmp / MANIFEST_NAME).write_text(dumps_json(_manifest(tmp, source_digest)), encoding="utf-8")
        if os.path.lexists(target):
            stale = target.with_name(f".tmp-stale-{uuid.uuid4().hex}")
            os.rename(target, stale)
            remove(stale)
        os.rename(tmp, target)
    except OSError as exc:  # a full disk, a folder turned read-only
        remove(tmp)
        raise _cache_error("write to", target.parent, exc) from None
    except BaseException:
        remove(tmp)
        raise


def cached_splits(root: Path, digest: str, build: Callable[[], dict[str, Dataset]], what: str,
                  source: Any) -> DatasetDict:
    """The splits ``build`` validates from ``source``, cached in ``root`` under ``digest``.

    The entry is checked against its manifest under a file lock (xdist workers share it): a
    missing or corrupt one is rebuilt, with a one-line warning naming ``what`` (e.g. MRPC).
    The format is in the name: an entry validated by older, laxer rules is never reused; so
    is the datasets release, whose Arrow files (and the tokenized ones map() writes beside
    them) may not load in another release, and two environments sharing the cache would
    otherwise rebuild it for each other every time.
    """
    _remove_orphans(root)
    target = root / f"{digest[:16]}-v{CACHE_FORMAT}-{arrow_cache_tag()}"
    with file_lock(target):
        problem = _cache_problem(target, digest) if os.path.lexists(target) else "absent"
        if problem is None:
            try:
                return datasets.load_from_disk(str(target))
            except Exception as exc:  # files as written, yet unreadable: e.g. another datasets
                problem = f"cannot be loaded ({type(exc).__name__})"
        if problem != "absent":
            warnings.warn(DataCacheWarning(f"pytest-finetune: {what} cache {target}: {problem}; "
                                           f"rebuilding it from {source}"), stacklevel=3)
        _save(target, build(), digest)
        return datasets.load_from_disk(str(target))


def _map_cache_problem(path: Path, record: Path) -> str | None:
    """Why a ``Dataset.map`` cache file cannot be trusted, or None (also when there is none)."""
    if not path.exists():
        return None
    try:
        size, expected = record.read_text(encoding="utf-8").split()
    except FileNotFoundError:
        return f"has no {record.name} (its writer was interrupted)"
    except (OSError, ValueError):
        return f"{record.name} is unreadable"
    try:
        if path.stat().st_size != int(size) or file_sha256(path) != expected:
            return "differs from what was written (truncated or replaced)"
    except (OSError, ValueError) as exc:
        return f"cannot be checked ({getattr(exc, 'strerror', None) or exc})"
    return None


@contextlib.contextmanager
def checked_map_cache(split: Dataset, fingerprint: str, what: str) -> Iterator[str | None]:
    """The cache file for ``split.map(..., new_fingerprint=fingerprint)``, verified first.

    ``datasets`` reuses a map's cache file on its name alone, so a truncated or swapped one
    would be a traceback (or wrong rows) in every later session. Each one written gets a
    size + SHA-256 record beside it; a file that no longer matches is removed, with a
    one-line warning, and the map computes it again. Under a lock so xdist workers wait for
    one another instead of tokenizing twice. None for in-memory datasets (nothing cached).
    """
    if not split.cache_files:
        yield None
        return
    path = Path(split.cache_files[0]["filename"]).parent / f"map-{fingerprint}.arrow"
    record = path.with_name(path.name + ".sha256")
    with file_lock(path):
        problem = _map_cache_problem(path, record)
        if problem:
            warnings.warn(DataCacheWarning(f"pytest-finetune: {what} cache {path}: {problem}; "
                                           "rebuilding it"), stacklevel=3)
            remove(path)
            remove(record)
        yield str(path)
        if path.is_file() and not record.is_file():
            atomic_write_text(record, f"{path.stat().st_size} {file_sha256(path)}\n")
