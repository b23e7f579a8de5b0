"""Reading JSON a user may have touched, and the per-user temp folders (``pytest_finetune._io``):
every fault is one line naming the file, never a traceback or a silently wrong value."""
import os
import re

import pytest

from pytest_finetune._io import DuplicateKey, NestedTooDeep, file_lock, loads_json, read_json, user_temp_folder
from pytest_finetune.baselines.store import read_baseline
from pytest_finetune.errors import BaselineError, ConfigError


def test_a_key_named_twice_in_one_object_is_refused():
    """json keeps the last value silently; whoever edited the file reads the first."""
    with pytest.raises(DuplicateKey, match="key 'mean' appears twice in one object"):
        loads_json('{"metrics": {"mean": 0.9, "std": 0.0, "mean": 0.1}}')
    assert loads_json('{"a": {"x": 1}, "b": {"x": 2}}') == {"a": {"x": 1}, "b": {"x": 2}}


def test_json_nested_deeper_than_the_parser_recurses_is_one_error():
    with pytest.raises(NestedTooDeep, match="nested too deeply"):
        loads_json("[" * 100_000 + "]" * 100_000)


@pytest.mark.parametrize("text, pattern", [
    ('{"format_version": 2, "format_version": 1}', r"b\.json: key 'format_version' appears twice in one object; restore it"),
    ("[" * 100_000 + "]" * 100_000, r"b\.json: objects or lists nested too deeply to read; restore it"),
])
def test_a_baseline_with_a_duplicate_key_or_deep_nesting_is_one_line(tmp_path, text, pattern):
    path = tmp_path / "b.json"
    path.write_text(text)
    with pytest.raises(BaselineError) as info:
        read_baseline(path)
    assert re.search(pattern, str(info.value)) and "\n" not in str(info.value)


def test_read_json_names_the_file_and_line(tmp_path):
    path = tmp_path / "r.json"
    path.write_text('{\n "a": 1,\n}')
    with pytest.raises(ConfigError, match=r"r\.json:3: invalid JSON \(.*\); expected a report"):
        read_json(path, ConfigError, "expected a report")


@pytest.fixture
def temp_root(tmp_path, monkeypatch):
    """The system temp folder, moved to a fresh folder for the test."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    return tmp_path


def _own(purpose: str, root) -> str:
    return str(root / f"pytest-finetune-{purpose}-{os.getuid()}")


@pytest.mark.parametrize("blocker", ["file", "symlink loop"])
def test_a_lock_folder_blocked_by_a_file_or_a_loop_is_one_line(temp_root, blocker):
    """On a shared host anyone can create that name in /tmp: a usage error naming it."""
    path = _own("locks", temp_root)
    if blocker == "file":
        with open(path, "w") as handle:
            handle.write("x")
    else:
        os.symlink(path, path)
    with pytest.raises(ConfigError) as info:
        file_lock(temp_root / "baselines")
    message = str(info.value)
    assert message.startswith(f"locks folder {path}: ") and "set TMPDIR" in message and "\n" not in message


def test_lock_files_live_in_a_folder_of_this_user(temp_root):
    lock = file_lock(temp_root / "baselines")
    assert os.path.dirname(lock.lock_file) == _own("locks", temp_root)
    assert user_temp_folder("locks").stat().st_mode & 0o777 == 0o700
