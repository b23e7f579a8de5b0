"""The files of a local MRPC folder, their content digest, and a path-free name for a source.

Kept apart from ``data.py`` so that naming a source (for results, baselines and reports)
needs neither ``datasets`` nor the data being parsed: a record must say *what* data a run
used (its kind and a hash of its content), never *where* it lay on one machine, since a
path carries a user name and means nothing on another machine.

Every problem is a ``DataError`` naming the folder or file: an ambiguous folder is refused
rather than guessed at, because guessing silently trains on the wrong (or tripled) rows.
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path

from pytest_finetune.config.options import folder_problem
from pytest_finetune.errors import DataError
from pytest_finetune.mrpc.sources import DATA_HINT, HUB_ID, HUB_SOURCE

SPLITS = ("train", "validation", "test")
# GLUE file name -> Hub split name.
TSV_SPLITS = {"train.tsv": "train", "dev.tsv": "validation", "test.tsv": "test"}
TSV_KIND, PARQUET_KIND, HUB_KIND = "glue-tsv", "parquet", "hub"
EXPECTED_FILES = ("expected train.tsv and dev.tsv (GLUE TSV) or the Hub's parquet files "
                  "(train-*.parquet and validation-*.parquet)")


def _listing(folder: Path) -> list[str]:
    try:
        return sorted(os.listdir(folder))
    except OSError as exc:
        raise DataError(f"{folder}: cannot list the folder ({exc.strerror})") from None


def _parquet_layouts(folder: Path, names: list[str], split: str) -> dict[str, list[Path]]:
    """The split's parquet files per layout the Hub has used: ``split-*``, ``split/``, ``split.parquet``."""
    layouts = {
        f"{split}-*.parquet": [folder / n for n in names if n.startswith(f"{split}-") and n.endswith(".parquet")],
        f"{split}.parquet": [folder / n for n in names if n == f"{split}.parquet"],
    }
    sub = folder / split
    if split in names and sub.is_dir():
        layouts[f"{split}/*.parquet"] = [sub / n for n in _listing(sub) if n.endswith(".parquet")]
    return {layout: files for layout, files in layouts.items() if files}


_SHARD = re.compile(r"-(\d+)-of-(\d+)\.parquet$")


def _check_shards(files: list[Path], split: str) -> None:
    """Hub shards are named ``split-00000-of-00002.parquet``: all of one set, none missing.

    One shard of two would train on half the split without a word; two sets of shards
    would count rows twice.
    """
    numbered = [(p, _SHARD.search(p.name)) for p in files]
    totals = {int(m.group(2)) for _, m in numbered if m}
    if not totals:
        return
    if len(totals) > 1 or any(m is None for _, m in numbered):
        names = ", ".join(p.name for p in files)
        raise DataError(f"{files[0].parent}: split {split} mixes shard sets ({names}); expected "
                        f"one set {split}-00000-of-NNNNN.parquet ... with every shard present")
    total = totals.pop()
    numbers = sorted(int(m.group(1)) for _, m in numbered)
    if len(set(numbers)) != len(numbers) or numbers[-1] >= total:
        names = ", ".join(p.name for p in files)
        raise DataError(f"{files[0].parent}: split {split} has repeated or out-of-range shard "
                        f"numbers ({names}); expected {split}-00000-of-{total:05d}.parquet onwards")
    missing = sorted(set(range(total)) - set(numbers))
    if missing:
        shown = ", ".join(f"{split}-{i:05d}-of-{total:05d}.parquet" for i in missing[:3])
        raise DataError(f"{files[0].parent}: split {split} is missing shard(s) {shown}"
                        f"{' ...' if len(missing) > 3 else ''}; expected all {total} shards")


def _short(paths: list[Path], folder: Path) -> str:
    return ", ".join(str(p.relative_to(folder)) for p in paths)


def split_files(folder: Path) -> tuple[str, dict[str, list[Path]]]:
    """The source's kind (glue-tsv or parquet) and each split's files, refusing ambiguity.

    A folder holding one split in two forms (TSV and parquet, or several parquet layouts)
    is an error: reading all of them multiplies the rows, picking one hides the others.
    """
    folder = Path(folder)
    names = _listing(folder)
    tsvs = {split: [folder / name] for name, split in TSV_SPLITS.items() if name in names}
    parquets: dict[str, list[Path]] = {}
    for split in SPLITS:
        layouts = _parquet_layouts(folder, names, split)
        if len(layouts) > 1:
            found = "; ".join(f"{layout}: {_short(files, folder)}" for layout, files in layouts.items())
            raise DataError(f"{folder}: split {split} is in several parquet layouts at once ({found}); "
                            "keep exactly one layout per split")
        if layouts:
            parquets[split] = sorted(next(iter(layouts.values())))
            _check_shards(parquets[split], split)
    if tsvs and parquets:
        tsv_names = ", ".join(p.name for files in tsvs.values() for p in files)
        parquet_names = _short([p for files in parquets.values() for p in files], folder)
        raise DataError(f"{folder}: holds both GLUE TSV files ({tsv_names}) and parquet files "
                        f"({parquet_names}); keep one source per folder")
    kind, files = (TSV_KIND, tsvs) if tsvs else (PARQUET_KIND, parquets)
    missing = [s for s in ("train", "validation") if s not in files]
    if missing:
        raise DataError(f"{folder}: no {' or '.join(missing)} split found; {EXPECTED_FILES}")
    for path in (p for paths in files.values() for p in paths):
        _check_regular(path)
    return kind, files


def _check_regular(path: Path) -> None:
    """A data file is a regular file: reading a FIFO blocks until someone writes to it (a
    session that hangs forever), and a folder or device is not data either."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise DataError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        raise DataError(f"{path}: is a directory, expected a data file")
    if stat.S_ISFIFO(mode):
        raise DataError(f"{path}: is a FIFO (named pipe), expected a data file")
    if not stat.S_ISREG(mode):
        raise DataError(f"{path}: is not a regular file (a device or socket), expected a data file")


def read_source_bytes(path: Path) -> bytes:
    """A data file's bytes; an unreadable one (permissions, a directory, I/O) is one line."""
    try:
        return Path(path).read_bytes()
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, expected a data file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read file ({exc.strerror or exc})") from None


def content_digest(files: dict[str, list[Path]]) -> str:
    """SHA-256 of every split's bytes (file names left out: renaming a file changes no data)."""
    digest = hashlib.sha256(b"mrpc-content-v1")
    for split in sorted(files):
        for path in files[split]:
            content = read_source_bytes(path)
            digest.update(f"\0{split}\0{len(content)}\0".encode())
            digest.update(content)
    return digest.hexdigest()


def local_folder(source: str | Path) -> Path:
    """The folder a local source names, or a DataError saying it is missing or a file."""
    problem = folder_problem(source)
    if problem:
        raise DataError(f"MRPC folder {source} {problem}; {DATA_HINT}")
    return Path(source).expanduser()


def describe_source(source: str | Path) -> str:
    """What a run's data was, without where it lay: ``glue-tsv:sha256:…``, ``parquet:sha256:…``
    or ``hub:nyu-mll/glue/mrpc``. Results, baselines and reports store this, never the path."""
    if str(source) == HUB_SOURCE:
        return f"{HUB_KIND}:{'/'.join(HUB_ID)}"
    kind, files = split_files(local_folder(source))
    return f"{kind}:sha256:{content_digest(files)[:16]}"
