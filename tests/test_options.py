"""Session options checked when the session starts (``pytest_finetune.config``): a path that
cannot even be looked at, or a folder that would refuse the files written into it later, is
one line naming the option, before anything loads or trains."""
import re
import sys
from pathlib import Path

import pytest

from pytest_finetune.cli.main import main
from pytest_finetune.config.options import OPTIONS_BY_DEST, output_file_problem, output_folder_problem, resolve
from pytest_finetune.config.settings import FinetuneSettings
from pytest_finetune.errors import ConfigError

LONG = "x" * 300  # longer than a file name may be (255 bytes on Linux file systems)
# A folder os.access() calls writable for root, where no file can be created.
REFUSING = Path("/proc")
needs_proc = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")


@pytest.mark.parametrize("dest", ["data", "model", "report", "cache_dir"])
def test_a_name_longer_than_the_file_system_allows_is_one_line(tmp_path, dest):
    with pytest.raises(ConfigError) as info:
        resolve(OPTIONS_BY_DEST[dest], str(tmp_path / LONG), None, environ={})
    message = str(info.value)
    assert message.startswith(OPTIONS_BY_DEST[dest].cli) and "File name too long" in message
    assert "\n" not in message


def test_a_baselines_folder_with_a_name_too_long_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"--finetune-baselines .*cannot be used \(File name too long\)"):
        FinetuneSettings.from_sources({"baselines": str(tmp_path / LONG)}, {}, tmp_path, environ={})


@needs_proc
def test_a_folder_that_refuses_new_files_is_found_by_creating_one():
    assert re.fullmatch(r"cannot be written: /proc refused a new file \(.+\)",
                        output_folder_problem(REFUSING / "out"))
    assert "refused a new file" in output_file_problem(REFUSING / "report.json")


def test_the_write_probe_leaves_nothing_behind(tmp_path):
    assert output_folder_problem(tmp_path / "new" / "out") is None
    assert list(tmp_path.iterdir()) == []


@needs_proc
@pytest.mark.parametrize("switch, flag", [({"update_baselines": "failing"}, "--finetune-update-baselines"),
                                          ({"record_missing": True}, "--finetune-record-missing")])
def test_a_baselines_folder_that_cannot_take_files_is_refused_when_asked_to_write(tmp_path, switch, flag):
    """Said when the session starts, not after the training whose result it would hold."""
    with pytest.raises(ConfigError) as info:
        FinetuneSettings.from_sources({"baselines": str(REFUSING / "b"), **switch}, {}, tmp_path, environ={})
    assert re.search(rf"baselines folder /proc/b cannot be written: .*; {flag} writes the baselines there",
                     str(info.value))
    # Only read: a folder that takes no files still serves its baselines.
    assert FinetuneSettings.from_sources({"baselines": str(REFUSING / "b")}, {}, tmp_path, environ={})


@pytest.fixture
def no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("training started although an input was bad")

    monkeypatch.setattr("pytest_finetune.runs.execute.execute_run", refuse)


@pytest.mark.parametrize("output, pattern", [
    pytest.param(str(REFUSING / "out"), r"--output: /proc/out cannot be written: /proc refused a new file",
                 marks=needs_proc),
    (LONG, r"--output: x+ cannot be used \(File name too long\)"),
])
def test_run_refuses_an_output_folder_it_could_not_write_before_training(tmp_path, monkeypatch, capsys,
                                                                          no_training, output, pattern):
    monkeypatch.chdir(tmp_path)
    code = main(["run", "--runner", "loop", "--output", output, "--baselines", str(tmp_path / "b"),
                 "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert code == 2 and re.match(rf"pytest-finetune: {pattern}", err) and err.count("\n") == 1, err
