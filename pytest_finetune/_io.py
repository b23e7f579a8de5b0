"""Files we write: complete or absent, one JSON layout, locks outside tracked folders.

A baseline or report is written to a temporary file in the same folder and renamed over
the target; a crash or Ctrl-C at any point leaves the old file or the new one, never half.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import filelock


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
    baselines and reports diff line by line in review."""
    return json.dumps(value, indent=1, sort_keys=True) + "\n"


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
