"""A user's labelled text files, read with ``datasets`` and checked value by value.

CSV, TSV, JSON Lines and parquet, told apart by the file's suffix. CSV and TSV are read
with every column as text (``datasets`` would otherwise let pandas turn a text column of
numbers into integers, or an empty field into NaN); JSON Lines and parquet keep their
types, so a number where text belongs is found and named. Each problem is one line naming
the file, the row (counted from 1, header not counted) and the column, because that is what
a user fixing an export needs; no library traceback reaches them.
"""
from __future__ import annotations

import csv
import json
import re
import tempfile
from pathlib import Path
from typing import Any, Sequence

from pytest_finetune.errors import DataError
from pytest_finetune.hf.cache import quiet_datasets

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}
_INTEGER = re.compile(r"[+-]?\d+")
_SHOWN = 60


def data_format(path: Path) -> str:
    """csv, tsv, jsonl or parquet, from the suffix; anything else is a DataError."""
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: unknown file type {Path(path).suffix or '(no suffix)'!r}; expected "
                        ".csv, .tsv, .jsonl (JSON Lines) or .parquet")
    return fmt


def shown(value: Any) -> str:
    """A value fit for a one-line message: its repr cut short, control characters escaped,
    and its type."""
    text = repr(value)
    text = text if len(text) <= _SHOWN else text[:_SHOWN] + "..."
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return "null" if value is None else f"{text} ({type(value).__name__})"


def _header(path: Path, delimiter: str) -> tuple[list[str], bool]:
    """The header's column names, and whether a row follows it."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = csv.reader(handle, delimiter=delimiter)
            header = next(rows, [])
            return header, any(any(field.strip() for field in row) for row in rows)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
                        "expected a UTF-8 text file") from None
    except (OSError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None


def _load(fmt: str, path: Path, **kwargs: Any) -> dict[str, list]:
    import datasets

    builder = {"csv": "csv", "tsv": "csv", "jsonl": "json", "parquet": "parquet"}[fmt]
    with tempfile.TemporaryDirectory(prefix="pytest-finetune-read-") as scratch, quiet_datasets():
        table = datasets.load_dataset(builder, data_files=str(path), split="train", cache_dir=scratch, **kwargs)
        return table.to_dict()


def _library_problem(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return f"{type(exc).__name__}: {text[:200]}"


def _first_bad_json_line(path: Path, columns: Sequence[str], texts: Sequence[str]) -> str | None:
    """Where a JSON Lines file that ``datasets`` refused goes wrong, found line by line
    (older ``datasets`` refuse a column whose values change type; newer ones read it)."""
    types: dict[str, type] = {}
    try:
        lines = path.read_text(encoding="utf-8-sig").split("\n")
    except (OSError, UnicodeDecodeError):
        return None
    row = 0
    for line in lines:
        if not line.strip():
            continue
        row += 1
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            return f"row {row}: not valid JSON ({exc.msg})"
        if not isinstance(record, dict):
            return f"row {row}: expected a JSON object per line, found {type(record).__name__}"
        for column in columns:
            if column in texts and column in record and text_problem(record[column]):
                return f"row {row}: column {column}: expected {text_problem(record[column])}, found {shown(record[column])}"
            if column in record and record[column] is not None:
                seen = types.setdefault(column, type(record[column]))
                if seen is not type(record[column]):
                    return (f"row {row}: column {column}: {shown(record[column])}, where earlier rows "
                            f"hold {seen.__name__} values")
    return None


def read_table(path: Path, columns: Sequence[str], texts: Sequence[str] = ()) -> dict[str, list]:
    """The file's rows as columns; ``columns`` are the ones the task needs (named in errors),
    ``texts`` those of them that hold text.

    The file must exist and hold a header (CSV/TSV) or fields (JSON Lines, parquet) with
    every needed column; values are returned as read (checked by the caller).
    """
    path = Path(path)
    fmt = data_format(path)
    if not path.is_file():
        problem = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise DataError(f"{path}: {problem}; expected a {fmt} data file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file; the split is empty")
    kwargs: dict[str, Any] = {}
    if fmt in ("csv", "tsv"):
        from datasets import Features, Value

        delimiter = "\t" if fmt == "tsv" else ","
        header, has_rows = _header(path, delimiter)
        if not has_rows:
            raise DataError(f"{path}: no rows after the header; the split is empty")
        if len(set(header)) != len(header):
            raise DataError(f"{path}: the header names a column twice ({', '.join(header)}); expected "
                            "distinct column names")
        _require(path, header, columns)
        kwargs = dict(sep=delimiter, keep_default_na=False,
                      features=Features({name: Value("string") for name in header}))
    try:
        table = _load(fmt, path, **kwargs)
    except Exception as exc:  # pandas, pyarrow and datasets raise many types for a broken file
        where = _first_bad_json_line(path, columns, texts) if fmt == "jsonl" else None
        if where:
            raise DataError(f"{path}: {where}") from None
        raise DataError(f"{path}: not a readable {fmt} file ({_library_problem(exc)})") from None
    _require(path, list(table), columns)
    if not table or not len(next(iter(table.values()))):
        raise DataError(f"{path}: no rows; the split is empty")
    return {name: table[name] for name in columns}


def _require(path: Path, found: Sequence[str], needed: Sequence[str]) -> None:
    missing = [name for name in needed if name not in found]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; expected columns "
                        f"{', '.join(needed)}, found {', '.join(map(str, found)) or 'none'}")


def text_problem(value: Any) -> str | None:
    """What a text value should have been, or None when it is a non-empty string."""
    return None if isinstance(value, str) and value.strip() else "a non-empty string"


def as_label(value: Any, fmt: str) -> int | str | None:
    """A label value as an int or a string; None when it is neither (a float, a bool, null).

    In CSV and TSV every value is text, so a whole number written there is an integer label;
    in JSON Lines a column holding one non-integral number is read as floats throughout, so
    a whole float there is the integer it was written as.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and fmt == "jsonl" and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        return int(text) if fmt in ("csv", "tsv") and _INTEGER.fullmatch(text) else value
    return None
