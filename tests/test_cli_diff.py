"""``pytest-finetune diff`` names a run's result file by the scenario its record describes, as
reports and stored baselines do: runs of two models never meet as one scenario, and a run
file meets the report and the stored band of its own scenario."""
import json

import pytest

from factories import make_result
from pytest_finetune.baselines.scenario import scenario_of
from pytest_finetune.baselines.store import baseline_path, build_baseline
from pytest_finetune.cli.main import main

EMBEDDED_LOOP_TINY = "mrpc-all-MiniLM-L6-v2-loop-tiny-cpu-fp32"


def write(path, value):
    path.write_text(json.dumps(value))
    return str(path)


def run_file(path, **changes):
    return write(path, make_result(runner="loop", profile="tiny", n_eval=408, **changes).to_dict())


def diff(capsys, *argv):
    code = main(["diff", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def test_run_files_of_two_models_are_two_scenarios(tmp_path, capsys):
    old = run_file(tmp_path / "old.json", model_source="model-a-11111111")
    new = run_file(tmp_path / "new.json", model_source="model-b-22222222", accuracy=0.5)
    code, _, err = diff(capsys, old, new, "--fail-on-regression")
    assert code == 2 and err.count("\n") == 1
    assert "share no scenario" in err and "OLD has mrpc-model-a-11111111-loop-tiny-cpu-fp32" in err
    assert "NEW has mrpc-model-b-22222222-loop-tiny-cpu-fp32" in err
    code, out, _ = diff(capsys, old, new)
    assert code == 0 and "only in OLD" in out and "only in NEW" in out and "FAIL" not in out


def test_a_run_file_meets_the_report_and_the_stored_band_of_its_scenario(tmp_path, capsys):
    seeds = [make_result(runner="loop", profile="tiny", seed=seed, accuracy=accuracy, n_eval=408)
             for seed, accuracy in ((42, 0.74), (43, 0.8), (44, 0.86))]
    scenario = scenario_of(seeds[0].config, "cpu")
    (tmp_path / "baselines").mkdir()
    write(baseline_path(tmp_path / "baselines", scenario), build_baseline(seeds, scenario, 3.0))
    entry = make_result(runner="loop", profile="tiny", n_eval=408, accuracy=0.8).to_dict()
    report = write(tmp_path / "report.json", {"results": {EMBEDDED_LOOP_TINY: entry}})
    new = run_file(tmp_path / "new.json", accuracy=0.7)
    code, out, _ = diff(capsys, report, new, "--baselines", "baselines")
    assert code == 0 and "only in" not in out, out
    band = f"{EMBEDDED_LOOP_TINY}: band width from baselines/{EMBEDDED_LOOP_TINY}.json's seed spread (3 seed(s))"
    assert band in out
    accuracy = [line for line in out.splitlines() if line.startswith(EMBEDDED_LOOP_TINY + "  accuracy  ")][0]
    assert ">= 0.6200" in accuracy and accuracy.rstrip().endswith("ok")  # 0.8 -> 0.7: inside the 3-seed band


def test_a_gpu_run_file_is_named_by_the_gpu_it_ran_on(tmp_path, capsys):
    old = run_file(tmp_path / "old.json", device="cuda", hardware={"cuda_capability": "9.0"})
    new = run_file(tmp_path / "new.json", device="cuda", hardware={"cuda_capability": "8.0"})
    code, _, err = diff(capsys, old, new, "--fail-on-regression")
    assert code == 2 and "-loop-tiny-cuda-sm90-fp32" in err and "-loop-tiny-cuda-sm80-fp32" in err
