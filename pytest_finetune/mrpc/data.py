"""MRPC as one ``DatasetDict`` with the Hub's columns, whatever the source.

Sources: the Hub (``glue``/``mrpc``), a folder of GLUE TSV files, or a folder of the Hub's
parquet files. Local sources are validated row by row so a broken file is reported by name
and line, then cached as Arrow keyed by the files' content hash: the cached copy is what
makes ``Dataset.map`` tokenization cacheable across sessions (in-memory datasets are not).
"""
from __future__ import annotations

import csv
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import datasets
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

from pytest_finetune.errors import DataError
from pytest_finetune.mrpc.sources import DATA_HINT, HUB_SOURCE, hub_reachable

HUB_ID = ("nyu-mll/glue", "mrpc")
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
# GLUE file name -> Hub split name.
TSV_SPLITS = {"train.tsv": "train", "dev.tsv": "validation", "test.tsv": "test"}


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pytest-finetune"


def read_glue_tsv(path: Path) -> dict[str, list]:
    """Read one GLUE MRPC TSV file into columns, checking every line.

    Sentences contain ``"``, so quoting is off; a UTF-8 BOM is dropped. Errors name the
    file and line because a user fixing a broken export needs exactly that.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read file ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not UTF-8 (byte 0x{raw[exc.start]:02x}); "
                        "MRPC TSV files must be UTF-8") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise DataError(f"{path}: empty file; expected a header line "
                        f"{' | '.join(TSV_HEADER)} and one row per pair")
    header = lines[0].split("\t")
    is_test = header == TEST_TSV_HEADER
    if not is_test and header != TSV_HEADER:
        missing = [name for name in TSV_HEADER if name not in header]
        problem = f"missing column(s) {', '.join(missing)}" if missing else "columns out of order"
        raise DataError(f"{path}:1: bad header ({problem}); expected the tab-separated "
                        f"columns {' | '.join(TSV_HEADER)}, found {' | '.join(header)}")
    columns: dict[str, list] = {"sentence1": [], "sentence2": [], "label": [], "idx": []}
    reader = csv.reader(lines[1:], delimiter="\t", quoting=csv.QUOTE_NONE)
    for number, fields in enumerate(reader, start=2):
        if not fields:
            continue  # a trailing blank line
        if len(fields) != len(TSV_HEADER):
            raise DataError(f"{path}:{number}: expected {len(TSV_HEADER)} tab-separated "
                            f"fields, found {len(fields)}")
        if is_test:
            label = -1
        elif fields[0] in ("0", "1"):
            label = int(fields[0])
        else:
            raise DataError(f"{path}:{number}: label (column Quality) must be 0 or 1, "
                            f"found {fields[0]!r}")
        columns["sentence1"].append(fields[3])
        columns["sentence2"].append(fields[4])
        columns["label"].append(label)
        columns["idx"].append(len(columns["idx"]))
    if not columns["idx"]:
        raise DataError(f"{path}: no rows after the header; the split is empty")
    return columns


def _split_files(folder: Path) -> dict[str, list[Path]]:
    """Find the split files of a local source: GLUE TSVs first, else Hub parquet files."""
    tsvs = {split: [folder / name] for name, split in TSV_SPLITS.items() if (folder / name).is_file()}
    if tsvs:
        return tsvs
    parquets: dict[str, list[Path]] = {}
    for split in ("train", "validation", "test"):
        found = sorted(folder.glob(f"{split}-*.parquet")) + sorted(folder.glob(f"{split}/*.parquet"))
        found += [p for p in [folder / f"{split}.parquet"] if p.is_file()]
        if found:
            parquets[split] = found
    return parquets


def _read_parquet(files: list[Path]) -> dict[str, list]:
    import pyarrow.parquet as pq

    tables = []
    for path in files:
        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises several types for a corrupt file
            raise DataError(f"{path}: not a readable parquet file ({exc})") from None
        missing = [name for name in FEATURES if name not in table.column_names]
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(missing)}; expected the "
                            f"Hub's columns {', '.join(FEATURES)}")
        tables.append(table.select(list(FEATURES)).to_pydict())
    columns = {name: [value for table in tables for value in table[name]] for name in FEATURES}
    bad = next((i for i, v in enumerate(columns["label"]) if v not in (-1, 0, 1)), None)
    if bad is not None:
        raise DataError(f"{files[0]}: row {bad}: label must be 0 or 1 (or -1 for test), "
                        f"found {columns['label'][bad]!r}")
    if not columns["idx"]:
        raise DataError(f"{files[0]}: no rows; the split is empty")
    return columns


def _fingerprint(files: dict[str, list[Path]]) -> str:
    digest = hashlib.sha256(b"mrpc-v1")
    for split in sorted(files):
        for path in files[split]:
            digest.update(split.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def load_local_mrpc(folder: str | Path, cache_dir: str | Path | None = None) -> DatasetDict:
    """Load MRPC from a local folder, validated and cached as Arrow between sessions."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError(f"MRPC folder {folder} does not exist; {DATA_HINT}")
    files = _split_files(folder)
    missing = [s for s in ("train", "validation") if s not in files]
    if missing:
        raise DataError(f"{folder}: no {' or '.join(missing)} split found; expected train.tsv "
                        "and dev.tsv (GLUE TSV) or train-*.parquet and validation-*.parquet")
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    target = cache / "mrpc" / _fingerprint(files)
    if (target / "dataset_dict.json").is_file():
        return datasets.load_from_disk(str(target))
    splits = {}
    for split, paths in files.items():
        columns = read_glue_tsv(paths[0]) if paths[0].suffix == ".tsv" else _read_parquet(paths)
        splits[split] = Dataset.from_dict(columns, features=FEATURES, split=split)
    built = DatasetDict(splits)
    # Written to a temporary folder and renamed, so a killed session never leaves a
    # half-written cache that a later session would trust.
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
    try:
        built.save_to_disk(str(tmp))
        os.replace(tmp, target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # another process won the race: use theirs
        if not (target / "dataset_dict.json").is_file():
            raise
    return datasets.load_from_disk(str(target))


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
