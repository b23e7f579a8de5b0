"""``pytest-finetune upgrade`` as a user calls it: bad input is one line and exit 2, before
any environment is built."""
import fnmatch
import os

import pytest

from pytest_finetune.cli.main import main


@pytest.mark.parametrize("argv, line", [
    (["--new", "transformers=5"], "--new: 'transformers=5' is not a pip requirement*"),
    (["--old", "transformers==4.57.6", "transformers==4.57.5", "--new", "transformers==5.24.0"],
     "--old: transformers is named twice*"),
    (["--new", "transformers==5.24.0", "--data", "/no/such/folder"], "*MRPC folder /no/such/folder does not exist*"),
    (["--new", "transformers==5.24.0", "--device", "tpu"], "*'tpu' is not one of auto, cpu, cuda*"),
    (["--old", "transformers==4.57.6"], "*the following arguments are required: --new*"),
    (["--new", "transformers==5.24.0", "--json", "{tmp}"], "--json: {tmp} is a folder, not a file*"),
])
def test_bad_input_is_one_line_and_exit_2(argv, line, tmp_path, capsys):
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in argv]
    try:
        code = main(["upgrade", *argv, "--cache-dir", str(tmp_path / "cache"), "--output", str(tmp_path / "out")])
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert fnmatch.fnmatch(err, f"pytest-finetune: {line.replace('{tmp}', str(tmp_path))}"), err
    assert err.count("\n") == 1
    assert not (tmp_path / "cache").exists()  # nothing was built


def test_drift_example_is_shown_as_the_sentences_a_reader_knows():
    from pytest_finetune.plugin.availability import require_data
    from pytest_finetune.upgrade.command import mrpc_example_text

    data = require_data(os.environ.get("PYTEST_FINETUNE_MRPC_DIR", "hub"))
    text = mrpc_example_text(data)(3)
    first, _, second = text.partition('" / "')
    assert first.startswith('"') and second.endswith('"') and len(first) > 5 and len(second) > 5


@pytest.mark.slow
def test_a_pin_that_cannot_be_installed_is_one_line_and_exit_2(tmp_path, capsys):
    """Asks the package index (uv or pip, as installed): seconds, but a subprocess."""
    code = main(["upgrade", "--old", "transformers==9.9.9", "--new", "transformers==5.24.0",
                 "--cache-dir", str(tmp_path / "cache"), "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert err[-1].startswith("pytest-finetune: --old torch==") and "transformers==9.9.9" in err[-1]
    assert "cannot be installed" in err[-1]
    envs = list((tmp_path / "cache" / "envs").glob("*/"))
    assert envs and not any((env / "complete.json").exists() for env in envs)  # rebuilt next time


def test_an_environment_that_will_not_build_is_exit_3_with_one_line(tmp_path, capsys, monkeypatch):
    from pytest_finetune.upgrade import envs

    def broken(self, side, path, label):
        raise envs.EnvBuildError(f"{label}: installing failed; see {path / 'build.log'}")

    monkeypatch.setattr(envs.EnvBuilder, "_build", broken)
    code = main(["upgrade", "--old", "transformers==4.57.6", "--new", "transformers==5.24.0",
                 "--cache-dir", str(tmp_path / "cache"), "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3
    assert err[-1].startswith("pytest-finetune: [old] environment ") and err[-1].endswith("build.log")
