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

from pytest_finetune.errors import ConfigError

if TYPE_CHECKING:
    import filelock

ORPHAN_AGE_S = 3600.0  # a temporary file or folder this old is a killed process's leftover
# What atomic_write_bytes' mkstemp names look like: "." + target name + "." + 8 random chars + ".tmp".
_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")


class JSONProblem(ValueError):
    """A JSON text that parses but cannot be trusted; the message says why, in one phrase."""


class NonFiniteNumber(JSONProblem):
    """A JSON file holds NaN, Infinity or a number too large for a float (1e309)."""


class DuplicateKey(JSONProblem):
    """One JSON object names a key twice: ``json`` keeps the last, a reader sees the first."""


class NestedTooDeep(JSONProblem):
    """Objects or lists nested deeper than Python's parser can recurse."""


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


_FINITE_ONLY = "baselines and reports hold finite numbers only"


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NonFiniteNumber(f"number {text} is too large for a float ({_FINITE_ONLY})")
    return value


def _no_constant(name: str) -> Any:
    raise NonFiniteNumber(f"{name} is not a finite number ({_FINITE_ONLY})")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise DuplicateKey(f"key {key!r} appears twice in one object")
        found[key] = value
    return found


def loads_json(text: str) -> Any:
    """``json.loads`` that refuses what would let a check pass without a measurement.

    NaN, Infinity and overflowing numbers (1e309): Python's json accepts all three, and a
    NaN in a baseline or report makes every comparison with it false. A key named twice in
    one object: json silently keeps the last, while the person who edited the file reads
    the first. Nesting deeper than the parser can recurse (a RecursionError, a traceback).
    Each raises a JSONProblem (a ValueError) saying which; syntax errors stay
    json.JSONDecodeError.
    """
    try:
        return json.loads(text, parse_float=_finite_float, parse_constant=_no_constant,
                          object_pairs_hook=_unique_keys)
    except RecursionError:
        raise NestedTooDeep("objects or lists nested too deeply to read") from None


def read_json(path: Path, error: type[Exception], hint: str) -> Any:
    """The JSON value in ``path``, or ``error`` with one line naming the file and the fault.

    The one reading ladder for files a user may have touched (baselines, reports, markers):
    unreadable, not UTF-8, invalid JSON (with its line) or a JSONProblem, each followed by
    ``hint`` (what the file should be, or how to restore it).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise error(f"{path}: not UTF-8 text; {hint}") from None
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or exc}); {hint}") from None
    try:
        return loads_json(text)
    except json.JSONDecodeError as exc:
        raise error(f"{path}:{exc.lineno}: invalid JSON ({exc.msg}); {hint}") from None
    except JSONProblem as exc:
        raise error(f"{path}: {exc}; {hint}") from None


def write_json(path: Path, value: Any) -> Path:
    """Write ``value`` as JSON, atomically."""
    return atomic_write_text(path, dumps_json(value))


def user_temp_folder(purpose: str) -> Path:
    """``<temp>/pytest-finetune-<purpose>-<uid>``: this user's folder for ``purpose`` (lock
    files, obtained results), made if missing.

    One per user: a shared folder that another user made (mode 755) would refuse this
    user's files. Whatever stands in its place instead (a file, a symlink loop, a folder of
    another user, which anyone on a shared host can put there) is one line naming it,
    never a traceback from deep inside a baseline write.
    """
    owner = os.getuid() if hasattr(os, "getuid") else None
    folder = Path(tempfile.gettempdir()) / f"pytest-finetune-{purpose}-{owner if owner is not None else 'user'}"
    fix = "remove it, or set TMPDIR to a folder of your own"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.stat()
    except FileExistsError:
        raise ConfigError(f"{purpose} folder {folder}: something that is not a folder is in its way "
                          f"(a file or a broken link); {fix}") from None
    except OSError as exc:
        raise ConfigError(f"{purpose} folder {folder}: cannot be used ({exc.strerror or exc}); {fix}") from None
    if owner is not None and info.st_uid != owner:
        raise ConfigError(f"{purpose} folder {folder}: belongs to another user (uid {info.st_uid}); {fix}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"{purpose} folder {folder}: is not writable; {fix}")
    return folder


def file_lock(guarded: Path) -> "filelock.FileLock":
    """An inter-process lock for writers of ``guarded`` (a folder or file).

    The lock file lives in this user's lock folder in the system temp folder
    (:func:`user_temp_folder`), keyed by the guarded path, so no lock file ever appears in a
    tracked folder (baselines) and it works on every OS (filelock). ConfigError (one line)
    when that folder cannot be used.
    """
    import hashlib

    import filelock

    key = hashlib.sha256(str(Path(guarded).resolve()).encode()).hexdigest()[:16]
    return filelock.FileLock(str(user_temp_folder("locks") / f"{key}.lock"))
