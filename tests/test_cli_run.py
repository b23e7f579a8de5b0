"""``pytest-finetune run`` after training: nothing judged is never a pass, and the verdict is
said before the picture, which may fail without hiding it."""
import json

import pytest

from factories import make_result, tsv_folder
from pytest_finetune.cli.main import main


@pytest.fixture
def trained(tmp_path, monkeypatch):
    """``run`` without training (a made-up result per runner) and without packaged baselines."""
    empty = tmp_path / "no-packaged-baselines"
    empty.mkdir()
    monkeypatch.setattr("pytest_finetune.baselines.store.PACKAGED_BASELINES", empty)

    def execute_run(config, **kwargs):
        return make_result(runner=config.runner, profile=config.profile)

    monkeypatch.setattr("pytest_finetune.runs.execute.execute_run", execute_run)
    monkeypatch.chdir(tmp_path)
    return ["run", "--runner", "loop", "--data", str(tsv_folder(tmp_path / "data")), "--output", "out",
            "--baselines", str(tmp_path / "baselines"), "--cache-dir", str(tmp_path / "cache")]


def test_a_run_without_a_stored_baseline_does_not_pass(trained, capsys):
    """A changed model digest (no baseline for its scenario) must not keep CI green."""
    code = main(trained)
    out, err = capsys.readouterr()
    assert code == 1, err
    assert "note: no stored baseline for mrpc-all-MiniLM-L6-v2-loop-tiny-cpu-fp32" in out
    assert "NO BASELINE" in out
    line = [text for text in err.splitlines() if text.startswith("no baseline for scenario")][0]
    assert "nothing judged this run, so it does not pass: record one on purpose with pytest-finetune " \
           "check --profile tiny --data " in line and "-- -k matches_baseline --finetune-update-baselines" in line


def test_a_picture_that_cannot_be_written_is_a_warning_after_the_verdict(trained, capsys, monkeypatch, tmp_path):
    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("pytest_finetune.report.plots.plot_loss_curves", disk_full)
    code = main(trained)
    out, err = capsys.readouterr()
    assert code == 1  # the verdict (no baseline), not 3
    assert "loop" in out and "NO BASELINE" in out
    assert "pytest-finetune: warning: cannot write out/loss_curves.png (No space left on device); " \
           "the verdict above stands" in err
    assert json.loads((tmp_path / "out" / "mrpc-all-MiniLM-L6-v2-loop-tiny-cpu-fp32.json").read_text())["metrics"]["f1"] == 0.8
