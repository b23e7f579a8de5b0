"""MRPC as one ``DatasetDict`` with the Hub's columns, whatever the source.

Sources: the Hub (``glue``/``mrpc``), a folder of GLUE TSV files, or a folder of the Hub's
parquet files. Local sources are validated value by value so a broken file is reported by
name, line or row and column, then cached as Arrow keyed by the files' content hash: the
cached copy is what makes ``Dataset.map`` tokenization cacheable across sessions
(in-memory datasets are not). The cache is verified against a record of its own files
before each reuse, because a cache that is silently wrong trains on the wrong rows.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

# The cache machinery is shared with the user's tasks (pytest_finetune.hf.cache); its names
# stay importable from here.
from pytest_finetune.hf.cache import (CACHE_FORMAT, MANIFEST_NAME, ORPHAN_AGE_S,  # noqa: F401  (re-exported)
                                      DataCacheWarning, cache_root, cached_splits, checked_map_cache,
                                      default_cache_dir)
from pytest_finetune.errors import DataError
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


def _read_splits(files: dict[str, list[Path]]) -> dict[str, Dataset]:
    """Each split's files read and validated value by value, as Arrow datasets."""
    splits = {}
    for split, paths in files.items():
        columns = read_glue_tsv(paths[0], split) if paths[0].suffix == ".tsv" else _read_parquet(paths, split)
        splits[split] = Dataset.from_dict(columns, features=FEATURES, split=split)
    return splits


def load_local_mrpc(folder: str | Path, cache_dir: str | Path | None = None) -> DatasetDict:
    """Load MRPC from a local folder, validated and cached as Arrow between sessions.

    The cache entry is checked against its manifest under a file lock (xdist workers share
    it): a missing or corrupt one is rebuilt from the source, with a one-line warning.
    """
    source = local_folder(folder)
    _, files = split_files(source)
    digest = content_digest(files)
    return cached_splits(cache_root(cache_dir, "mrpc"), digest, lambda: _read_splits(files), "MRPC", source)


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
