"""Files we write and read back: complete or absent, one JSON layout, locks outside
tracked folders, finite numbers only.

A baseline or report is written to a temporary file in the same folder and renamed over
the target; a crash or Ctrl-C at any point leaves the old file or the new one, never half.
A kill between the two leaves the temporary file (``.<name>.<random>.tmp``): every folder
listing skips those, and the next write into that folder removes the ones older than
``ORPHAN_AGE_S`` (a younger one may be another process's write in progress).
"""
from __future__ import annotations

import json
import math
import os
import re
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import filelock

ORPHAN_AGE_S = 3600.0  # a temporary file or folder this old is a killed process's leftover
# What atomic_write_bytes' mkstemp names look like: "." + target name + "." + 8 random chars + ".tmp".
_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")


class NonFiniteNumber(ValueError):
    """A JSON file holds NaN, Infinity or a number too large for a float (1e309)."""


def is_temp_file(path: Path) -> bool:
    """A temporary file of :func:`atomic_write_bytes` (never a baseline, report or result)."""
    return bool(_TEMP_NAME.match(Path(path).name))


def is_old(path: Path, now: float | None = None, age: float = ORPHAN_AGE_S) -> bool:
    """Last modified more than ``age`` seconds ago (False when it vanished meanwhile)."""
    try:
        return (time.time() if now is None else now) - Path(path).lstat().st_mtime > age
    except OSError:
        return False


def remove_orphan_temp_files(folder: Path) -> list[Path]:
    """Delete old temporary files that killed writers left in ``folder``; what was removed."""
    removed = []
    now = time.time()
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        if is_temp_file(entry) and entry.is_file() and is_old(entry, now):
            try:
                entry.unlink()
                removed.append(entry)
            except OSError:
                pass
    return removed


def _mode_for(path: Path) -> int:
    """Keep an existing file's mode; a new file gets the umask's usual mode (mkstemp's is 0600)."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_orphan_temp_files(path.parent)
    mode = _mode_for(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def dumps_json(value: Any) -> str:
    """The one JSON layout of every file we write: sorted keys, one-space indent, so that
    baselines and reports diff line by line in review; NaN or infinity is refused (ValueError),
    since nothing could read it back (:func:`loads_json`)."""
    return json.dumps(value, indent=1, sort_keys=True, allow_nan=False) + "\n"


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NonFiniteNumber(f"number {text} is too large for a float")
    return value


def _no_constant(name: str) -> Any:
    raise NonFiniteNumber(f"{name} is not a finite number")


def loads_json(text: str) -> Any:
    """``json.loads`` that refuses NaN, Infinity and overflowing numbers (1e309).

    Python's json accepts all three, and a NaN in a baseline or report makes every
    comparison with it false, so a check that should fail passes. Raises NonFiniteNumber
    (a ValueError) naming the value; JSON syntax errors stay json.JSONDecodeError.
    """
    return json.loads(text, parse_float=_finite_float, parse_constant=_no_constant)


def write_json(path: Path, value: Any) -> Path:
    """Write ``value`` as JSON, atomically."""
    return atomic_write_text(path, dumps_json(value))


def file_lock(guarded: Path) -> "filelock.FileLock":
    """An inter-process lock for writers of ``guarded`` (a folder or file).

    The lock file lives in the system temp folder, keyed by the guarded path, so no lock
    file ever appears in a tracked folder (baselines) and it works on every OS (filelock).
    """
    import hashlib

    import filelock

    key = hashlib.sha256(str(Path(guarded).resolve()).encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / "pytest-finetune-locks"
    folder.mkdir(parents=True, exist_ok=True)
    return filelock.FileLock(str(folder / f"{key}.lock"))
