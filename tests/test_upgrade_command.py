"""``pytest-finetune upgrade`` as a user calls it: bad input is one line and exit 2, before
any environment is built."""
import argparse
import fnmatch

import pytest

from pytest_finetune.upgrade.command import add_arguments, run_from_args


def _upgrade(argv, tmp_path):
    parser = argparse.ArgumentParser(prog="pytest-finetune upgrade")
    add_arguments(parser)
    return run_from_args(parser.parse_args([*argv, "--cache-dir", str(tmp_path / "cache"),
                                            "--output", str(tmp_path / "out")]))


@pytest.mark.parametrize("argv, line", [
    (["--new", "transformers=5"], "--new: 'transformers=5' is not a pip requirement"),
    (["--old", "transformers==4.57.6", "transformers==4.57.5", "--new", "transformers==5.24.0"],
     "--old: transformers is named twice"),
    (["--new", "transformers==5.24.0", "--data", "/no/such/folder"], "*MRPC folder /no/such/folder does not exist"),
])
def test_bad_input_is_one_line_and_exit_2(argv, line, tmp_path, capsys):
    assert _upgrade(argv, tmp_path) == 2
    err = capsys.readouterr().err
    assert fnmatch.fnmatch(err, f"pytest-finetune upgrade: {line}*") and err.count("\n") == 1
    assert not (tmp_path / "cache").exists()  # nothing was built


def test_drift_example_is_shown_as_the_sentences_a_reader_knows():
    import os

    from pytest_finetune.plugin.availability import require_data
    from pytest_finetune.upgrade.command import mrpc_example_text

    data = require_data(os.environ.get("PYTEST_FINETUNE_MRPC_DIR", "hub"))
    text = mrpc_example_text(data)(3)
    first, _, second = text.partition('" / "')
    assert first.startswith('"') and second.endswith('"') and len(first) > 5 and len(second) > 5
