"""Input no check could measure is refused once, up front (``cli.preflight.check_inputs``):
``check`` before pytest starts, ``upgrade`` before any environment is built. One line,
exit 2, instead of every check failing alike ("9 failed, 6 errors", or a "safe" verdict
from two suites that never trained)."""
import shutil

import pytest

from factories import TSV_ROWS, tsv_folder
from pytest_finetune.cli.main import main
from pytest_finetune.mrpc.sources import default_model_path

LABEL_7 = TSV_ROWS.replace("1\t1\t2", "7\t1\t2", 1)


@pytest.fixture
def nothing_runs(monkeypatch):
    """Fails the test if the suite or an environment build starts."""
    def refuse(*args, **kwargs):
        raise AssertionError("started although the input was bad")

    monkeypatch.setattr("pytest_finetune.cli.check.pytest.main", refuse)
    monkeypatch.setattr("pytest_finetune.upgrade.envs.EnvBuilder._build", refuse)


@pytest.fixture
def broken_model(tmp_path):
    """The embedded model's config and tokenizer, with weights that are not a checkpoint."""
    folder = tmp_path / "broken-model"
    shutil.copytree(default_model_path(), folder, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    (folder / "model.safetensors").write_bytes(b"not a checkpoint")
    return folder


def _cases(tmp_path, broken_model):
    bad_data = tsv_folder(tmp_path / "bad-data", dev_rows=LABEL_7)
    good_data = tsv_folder(tmp_path / "data")
    return {"data": (["--data", str(bad_data)], r"dev.tsv:2: label (column Quality) must be 0 or 1, found '7'"),
            "model": (["--data", str(good_data), "--model", str(broken_model)],
                      f"weights of {broken_model}: cannot load (")}


@pytest.mark.parametrize("command", [["check"], ["upgrade", "--old", "transformers==4.57.6",
                                                 "--new", "transformers==5.24.0"]])
@pytest.mark.parametrize("bad", ["data", "model"])
def test_bad_data_or_model_is_one_line_before_anything_runs(tmp_path, capsys, nothing_runs, broken_model,
                                                             command, bad):
    extra, expected = _cases(tmp_path, broken_model)[bad]
    code = main([*command, *extra, "--cache-dir", str(tmp_path / "cache"), "--baselines", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith("pytest-finetune: ") and expected in err, err
    assert not (tmp_path / "cache" / "envs").exists()  # nothing was built
