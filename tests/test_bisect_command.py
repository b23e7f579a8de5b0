"""``pytest-finetune bisect`` as a user calls it: a range that cannot be bisected is one line
and exit 2 before any environment is built."""
from __future__ import annotations

import os

import pytest

from pytest_finetune.cli.main import main


def _bisect(tmp_path, capsys, *argv):
    try:
        code = main(["bisect", *argv, "--cache-dir", str(tmp_path / "cache"), "--output", str(tmp_path / "out")])
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("argv, words", [
    (["--old", "transformers==5.24.0", "--new", "transformers==4.57.6"],
     "transformers: the old pin 5.24.0 is not older than the new pin 4.57.6"),
    (["--old", "transformers>=4.57", "--new", "transformers==5.24.0"], "--old: transformers>=4.57 is not one exact version"),
    (["--old", "transformers==4.57.6", "--new", "transformers==5.24.0", "--package", "datasets"],
     "--package: datasets does not change between --old and --new"),
    (["--old", "transformers==4.57.6", "datasets==3.0.0", "--new", "transformers==5.24.0"],
     "--new: datasets is not named"),
])
def test_a_range_that_cannot_be_bisected_is_one_line_and_exit_2(tmp_path, capsys, argv, words):
    code, err = _bisect(tmp_path, capsys, *argv)
    assert code == 2 and err.count("\n") == 1 and words in err, err
    assert not (tmp_path / "cache" / "envs").exists()  # nothing was built


@pytest.mark.slow
def test_an_index_that_cannot_be_read_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    """Asks pip for the release list (a subprocess) with nothing but an index that refuses."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_RETRIES", "0")
    code, err = _bisect(tmp_path, capsys, "--old", "transformers==4.57.6", "--new", "transformers==5.24.0",
                        "--index-url", "http://127.0.0.1:9/simple")
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith("pytest-finetune: cannot list the releases of transformers from the package index: ")
    assert not (tmp_path / "cache" / "envs").exists()
