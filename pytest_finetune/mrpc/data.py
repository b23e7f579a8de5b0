"""MRPC as one ``DatasetDict`` with the Hub's columns, whatever the source.

Sources: the Hub (``glue``/``mrpc``), a folder of GLUE TSV files, or a folder of the Hub's
parquet files. Local sources are validated value by value so a broken file is reported by
name, line or row and column, then cached as Arrow keyed by the files' content hash: the
cached copy is what makes ``Dataset.map`` tokenization cacheable across sessions
(in-memory datasets are not). The cache is verified against a record of its own files
before each reuse, because a cache that is silently wrong trains on the wrong rows.
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
from typing import Any, Iterator

import datasets
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

from pytest_finetune._io import ORPHAN_AGE_S, atomic_write_text, dumps_json, file_lock, is_old  # noqa: F401  (ORPHAN_AGE_S: re-exported)
from pytest_finetune.compat.versions import arrow_cache_tag
from pytest_finetune.config.options import OPTIONS_BY_DEST
from pytest_finetune.errors import ConfigError, DataError
from pytest_finetune.mrpc.data_files import (TSV_SPLITS, content_digest, local_folder,
                                             read_source_bytes, split_files)
from pytest_finetune.mrpc.sources import DATA_HINT, HUB_ID, HUB_SOURCE, hub_reachable

LABEL_NAMES = ["not_equivalent", "equivalent"]
FEATURES = Features(
    {
        "sentence1": Value("string"),
        "sentence2": Value("string"),
        "label": ClassLabel(names=LABEL_NAMES),
        "idx": Value("int32"),
    }
)
TSV_HEADER = ["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"]
TEST_TSV_HEADER = ["Index", "#1 ID", "#2 ID", "#1 String", "#2 String"]
INT32_MAX = 2**31 - 1
# The cache's integrity record: which files save_to_disk wrote, with their sizes and hashes.
MANIFEST_NAME = "pytest-finetune-cache.json"
CACHE_FORMAT = 3  # raise when validation or layout changes: older entries are then left unused
# A temporary cache entry older than _io.ORPHAN_AGE_S was left by a killed process: removed.
# Younger ones may be another process's work in progress: left alone (and never read).


class DataCacheWarning(UserWarning):
    """The Arrow cache of MRPC was found corrupt and rebuilt from the source files."""


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pytest-finetune"


def _shown(text: str, limit: int = 120) -> str:
    """``text`` fit for a one-line message: control and line-separator characters escaped."""
    text = text if len(text) <= limit else text[:limit] + "..."
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _lines(text: str) -> list[str]:
    r"""Split on ``\n`` and ``\r\n`` only: ``str.splitlines`` also splits on U+2028, NEL
    (U+0085), form feed and others, which may occur inside a sentence."""
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


def read_glue_tsv(path: Path, split: str | None = None) -> dict[str, list]:
    """Read one GLUE MRPC TSV file into columns, checking every line.

    Sentences contain ``"``, so there is no quoting: a row is its line split on tabs (which
    also has no field-size limit, unlike the csv module). A UTF-8 BOM is dropped. Only the
    test split may be unlabelled (the ``Index`` header); ``split`` defaults to the one the
    file name implies. Errors name the file and line because a user fixing a broken export
    needs exactly that.
    """
    path = Path(path)
    split = split or TSV_SPLITS.get(path.name, "train")
    raw = read_source_bytes(path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not UTF-8 (byte 0x{raw[exc.start]:02x}); "
                        "MRPC TSV files must be UTF-8") from None
    expected = " | ".join(TSV_HEADER)
    if not text.strip():
        raise DataError(f"{path}: empty file; expected a header line {expected} and one row per pair")
    lines = _lines(text)
    if "\r" in lines[0]:
        raise DataError(f"{path}:1: lines end in a lone carriage return (\\r); expected \\n or "
                        "\\r\\n line endings")
    header = lines[0].split("\t")
    is_test = header == TEST_TSV_HEADER
    if is_test and split != "test":
        raise DataError(f"{path}:1: unlabelled test-set header (Index ...) in the {split} split; "
                        f"only test.tsv may be unlabelled, expected the columns {expected}")
    if not is_test and header != TSV_HEADER:
        missing = [name for name in TSV_HEADER if name not in header]
        extra = [name for name in header if name not in TSV_HEADER]
        problem = (f"missing column(s) {', '.join(missing)}" if missing else
                   f"extra column(s) {_shown(', '.join(repr(n) for n in extra))}" if extra else
                   "columns out of order")
        raise DataError(f"{path}:1: bad header ({problem}); expected the tab-separated "
                        f"columns {expected}, found {_shown(' | '.join(header))}")
    columns: dict[str, list] = {"sentence1": [], "sentence2": [], "label": [], "idx": []}
    for number, line in enumerate(lines[1:], start=2):
        if not line:
            continue  # a blank line, e.g. the end of the file
        fields = line.split("\t")
        if len(fields) != len(TSV_HEADER):
            raise DataError(f"{path}:{number}: expected {len(TSV_HEADER)} tab-separated "
                            f"fields, found {len(fields)}")
        if is_test:
            label = -1
        elif fields[0] in ("0", "1"):
            label = int(fields[0])
        else:
            raise DataError(f"{path}:{number}: label (column Quality) must be 0 or 1, "
                            f"found {_shown(repr(fields[0]))}")
        for column, text in zip(TSV_HEADER[3:], fields[3:]):
            if not text.strip():
                raise DataError(f"{path}:{number}: column {column} is empty; expected a sentence")
        columns["sentence1"].append(fields[3])
        columns["sentence2"].append(fields[4])
        columns["label"].append(label)
        columns["idx"].append(len(columns["idx"]))
    if not columns["idx"]:
        raise DataError(f"{path}: no rows after the header; the split is empty")
    return columns


def _value_problem(column: str, value: Any, labels: tuple[int, ...]) -> str | None:
    """What a parquet value should have been, or None when it is right for its column."""
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if column in ("sentence1", "sentence2"):
        return None if isinstance(value, str) and value.strip() else "a non-empty string"
    if column == "label":
        return None if is_int and value in labels else \
            "an integer " + " or ".join(str(label) for label in labels)
    return None if is_int and 0 <= value <= INT32_MAX else f"an integer 0..{INT32_MAX}"


def _found(value: Any) -> str:
    return "null" if value is None else f"{_shown(repr(value), 60)} ({type(value).__name__})"


def _read_parquet(files: list[Path], split: str) -> dict[str, list]:
    """The split's parquet files as columns, every value type-checked where it is.

    Arrow would cast a float or bool label, or refuse a string idx with a deep error; the
    check names the file, row and column instead. Only the test split may carry label -1.
    """
    import pyarrow.parquet as pq

    labels = (-1, 0, 1) if split == "test" else (0, 1)
    columns: dict[str, list] = {name: [] for name in FEATURES}
    seen: dict[int, tuple[Path, int]] = {}  # idx -> where it was first read
    for path in files:
        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises several types for a corrupt file
            raise DataError(f"{path}: not a readable parquet file ({_shown(str(exc), 200)})") from None
        missing = [name for name in FEATURES if name not in table.column_names]
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(missing)}; expected the "
                            f"Hub's columns {', '.join(FEATURES)}")
        values = table.select(list(FEATURES)).to_pydict()
        for name in FEATURES:
            for row, value in enumerate(values[name]):
                expected = _value_problem(name, value, labels)
                if expected:
                    raise DataError(f"{path}: row {row}: column {name}: expected {expected}, "
                                    f"found {_found(value)}")
            columns[name].extend(values[name])
        for row, idx in enumerate(values["idx"]):
            first = seen.setdefault(idx, (path, row))
            if first != (path, row):
                raise DataError(f"{path}: row {row}: column idx: {idx} repeats row {first[1]} of "
                                f"{first[0].name}; expected each idx once per split")
    if not columns["idx"]:
        raise DataError(f"{files[0]}: no rows; the split is empty")
    return columns


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _manifest(folder: Path, source_digest: str) -> dict[str, Any]:
    """Every file of a freshly saved cache with its size and hash (map caches come later)."""
    files = {str(p.relative_to(folder)): {"size": p.stat().st_size, "sha256": _file_sha256(p)}
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
            if path.stat().st_size != expected["size"] or _file_sha256(path) != expected["sha256"]:
                return f"{name} differs from what was written (truncated or replaced)"
        except FileNotFoundError:
            return f"{name} is missing"
        except (OSError, KeyError, TypeError) as exc:
            return f"{name} cannot be checked ({getattr(exc, 'strerror', None) or exc})"
    return None


def _remove(path: Path) -> None:
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
                _remove(entry)
        elif entry.is_dir() and not entry.is_symlink():
            for split_dir in (p for p in entry.iterdir() if p.is_dir()):
                for leftover in split_dir.iterdir():
                    if (leftover.name.startswith("tmp") or leftover.name.endswith(".tmp")) \
                            and leftover.is_file() and is_old(leftover, now):
                        _remove(leftover)


def _cache_root(cache_dir: str | Path | None) -> Path:
    root = (Path(cache_dir).expanduser() if cache_dir else default_cache_dir()) / "mrpc"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _cache_error("create", root, exc) from None
    return root


def _cache_error(action: str, root: Path, exc: OSError) -> ConfigError:
    return ConfigError(f"{OPTIONS_BY_DEST['cache_dir'].describe()}: cannot {action} the cache folder "
                       f"{root} ({exc.strerror or exc}); expected a writable folder")


def _build_cache(target: Path, files: dict[str, list[Path]], source_digest: str) -> None:
    """Validate the source and save it as Arrow, complete or not at all.

    Written to a temporary folder with its manifest and renamed into place, so a killed
    session never leaves a half-written cache that a later session would trust.
    """
    splits = {}
    for split, paths in files.items():
        columns = read_glue_tsv(paths[0], split) if paths[0].suffix == ".tsv" else _read_parquet(paths, split)
        splits[split] = Dataset.from_dict(columns, features=FEATURES, split=split)
    try:
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
    except OSError as exc:
        raise _cache_error("write to", target.parent, exc) from None
    try:
        DatasetDict(splits).save_to_disk(str(tmp))
        (tmp / MANIFEST_NAME).write_text(dumps_json(_manifest(tmp, source_digest)), encoding="utf-8")
        if os.path.lexists(target):
            stale = target.with_name(f".tmp-stale-{uuid.uuid4().hex}")
            os.rename(target, stale)
            _remove(stale)
        os.rename(tmp, target)
    except OSError as exc:  # a full disk, a folder turned read-only
        _remove(tmp)
        raise _cache_error("write to", target.parent, exc) from None
    except BaseException:
        _remove(tmp)
        raise


def load_local_mrpc(folder: str | Path, cache_dir: str | Path | None = None) -> DatasetDict:
    """Load MRPC from a local folder, validated and cached as Arrow between sessions.

    The cache entry is checked against its manifest under a file lock (xdist workers share
    it): a missing or corrupt one is rebuilt from the source, with a one-line warning.
    """
    source = local_folder(folder)
    _, files = split_files(source)
    digest = content_digest(files)
    root = _cache_root(cache_dir)
    _remove_orphans(root)
    # The format is in the name: an entry validated by older, laxer rules is never reused.
    # So is the datasets release: its Arrow files (and the tokenized ones map() writes beside
    # them) may not load in another release (see pytest_finetune.compat.versions), and two
    # environments sharing the cache would otherwise rebuild it for each other every time.
    target = root / f"{digest[:16]}-v{CACHE_FORMAT}-{arrow_cache_tag()}"
    with file_lock(target):
        problem = _cache_problem(target, digest) if os.path.lexists(target) else "absent"
        if problem is None:
            try:
                return datasets.load_from_disk(str(target))
            except Exception as exc:  # files as written, yet unreadable: e.g. another datasets
                problem = f"cannot be loaded ({type(exc).__name__})"
        if problem != "absent":
            warnings.warn(DataCacheWarning(f"pytest-finetune: MRPC cache {target}: {problem}; "
                                           f"rebuilding it from {source}"), stacklevel=2)
        _build_cache(target, files, digest)
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
        if path.stat().st_size != int(size) or _file_sha256(path) != expected:
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
            _remove(path)
            _remove(record)
        yield str(path)
        if path.is_file() and not record.is_file():
            atomic_write_text(record, f"{path.stat().st_size} {_file_sha256(path)}\n")


def load_hub_mrpc() -> DatasetDict:
    """The Hub's glue/mrpc, or a clear error at once when the Hub cannot be reached."""
    if not hub_reachable():
        try:  # a copy in the local HF cache still works offline
            from datasets import config as ds_config

            saved = ds_config.HF_HUB_OFFLINE
            ds_config.HF_HUB_OFFLINE = True
            try:
                return datasets.load_dataset(*HUB_ID)
            finally:
                ds_config.HF_HUB_OFFLINE = saved
        except Exception:
            raise DataError(f"the Hugging Face Hub is unreachable and glue/mrpc is not in the "
                            f"local cache; {DATA_HINT}") from None
    return datasets.load_dataset(*HUB_ID)


def load_mrpc(source: str | Path = HUB_SOURCE, cache_dir: str | Path | None = None) -> DatasetDict:
    """MRPC with ``train`` and ``validation`` (and ``test`` when present), Hub columns."""
    if str(source) == HUB_SOURCE:
        return load_hub_mrpc()
    return load_local_mrpc(source, cache_dir)
