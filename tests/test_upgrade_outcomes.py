"""SAFE, CHANGED or REGRESSION: the upgrade verdict on two sides' same-seed runs and seeds.

Synthetic reports with the runs a guard suite emits (``results``), the noise envelope and
the test that judged each record: the two sides are compared with each other, step by
step, and a moved runner's quality is judged from seeds before any outcome is given.
"""
from __future__ import annotations

import json

import pytest

from factories import make_result
from pytest_finetune.baselines.outcome import Outcome
from pytest_finetune.baselines.quality import compare_quality
from pytest_finetune.upgrade.verdict import CHANGED_EXIT, build_verdict

OLD = {"python": "3.11.7", "torch": "2.13.0+cpu", "transformers": "5.24.0"}
NEW = {"python": "3.11.7", "torch": "2.13.0+cpu", "transformers": "5.25.0"}
GUARD = "pytest_finetune/guard/test_tiny_runs.py"


def _scenario(runner):
    return f"mrpc-all-MiniLM-L6-v2-{runner}-tiny-cpu-fp32"


def _report(versions, trainer=None, loop=None, outcomes=None):
    runs = {"trainer": trainer or make_result(runner="trainer"), "loop": loop or make_result(runner="loop")}
    outcomes = outcomes or {}
    tests, comparisons, results = {}, {}, {}
    for runner, result in runs.items():
        nodeid = f"{GUARD}::test_tiny_run_matches_baseline[{runner}]"
        tests[nodeid] = {"outcome": outcomes.get(runner, "passed"), "message": "", "duration": 1.0}
        tests[f"{GUARD}::test_tiny_run_loss_decreases[{runner}]"] = {"outcome": "passed", "message": "",
                                                                      "duration": 0.0}
        comparisons[_scenario(runner)] = {"scenario": _scenario(runner), "nodeid": nodeid, "rows": [],
                                          "noise": None, "outcome": "safe"}
        results[_scenario(runner)] = result.to_dict()
    return {"versions": versions, "tests": tests, "comparisons": comparisons, "fingerprints": {},
            "results": results}


def _moved_trainer(by=1e-3):
    clean = make_result(runner="trainer")
    return make_result(runner="trainer", losses=[x + by for x in clean.losses])


def _seeds(runner, shift=0.0):
    """Five seeds' runs; ``shift`` raises the last epoch's training loss and the eval loss."""
    runs = []
    for i, seed in enumerate(range(42, 47)):
        wobble = 0.01 * ((i * 7) % 5 - 2)
        losses = [0.7 - 0.02 * k + (shift if k >= 16 else 0.0) + wobble for k in range(20)]
        eval_losses = [0.6 + wobble + shift] * 5
        runs.append(make_result(runner=runner, seed=seed, losses=losses, eval_losses=eval_losses).to_dict())
    return runs


def test_identical_runs_are_safe_and_say_how_many_were_compared():
    verdict = build_verdict(_report(OLD), _report(NEW))
    assert verdict.escalations() == []
    assert verdict.outcome is Outcome.SAFE and verdict.exit_code() == 0
    assert [m.compared and not m.moved for m in verdict.moves] == [True, True]
    assert "2 same-seed run(s) equal on both sides" in verdict.headline()


def test_moved_numerics_wait_for_the_seeds_before_any_outcome():
    verdict = build_verdict(_report(OLD), _report(NEW, trainer=_moved_trainer()))
    assert verdict.escalations() == [("trainer", "tiny", "mrpc")]
    with pytest.raises(ValueError, match="must be compared from seeds"):
        verdict.outcome


def test_moved_numerics_with_quality_not_worse_are_changed_not_a_regression():
    verdict = build_verdict(_report(OLD), _report(NEW, trainer=_moved_trainer(), outcomes={"trainer": "failed"}))
    verdict.quality.append(compare_quality("trainer", "tiny", _seeds("trainer"), _seeds("trainer", 0.001)))
    verdict.rerecord = "pytest-finetune check --profile tiny -- --finetune-update-baselines"
    assert verdict.outcome is Outcome.CHANGED
    assert verdict.exit_code() == 0 and verdict.exit_code(fail_on_change=True) == CHANGED_EXIT
    headline = verdict.headline()
    assert headline.startswith("CHANGED: the same-seed numerics moved")
    assert ("trainer/tiny seed 42: loss curve left the noise envelope first at step 1 of 20: 0.701000 on new, "
            "0.700000 on old (+1.00e-03 = 16777x the envelope 6.0e-08; allowed 10x); trainer/tiny: quality") in headline
    assert "quality not worse: eval loss +0.0010" in headline and "detectable: a rise of >=" in headline
    assert headline.endswith("re-record the baselines: pytest-finetune check --profile tiny -- "
                             "--finetune-update-baselines")
    # The record check that failed on new is judged by the side-by-side runs, not counted.
    (record,) = verdict.record_checks
    assert (record.old, record.new, record.kind) == ("passed", "failed", "judged side by side")
    assert verdict.checks == []
    data = json.loads(verdict.to_json())
    assert data["outcome"] == "changed" and data["quality"][0]["worse"] == []
    assert "## pytest-finetune upgrade: changed" in verdict.markdown()
    assert "Quality from seeds: trainer/tiny, seeds 42, 43, 44, 45, 46 per side" in verdict.text()


def test_moved_numerics_with_worse_quality_are_a_regression():
    verdict = build_verdict(_report(OLD), _report(NEW, trainer=_moved_trainer(0.3)))
    verdict.quality.append(compare_quality("trainer", "tiny", _seeds("trainer"), _seeds("trainer", 0.2)))
    assert verdict.outcome is Outcome.REGRESSION and verdict.exit_code() == 1
    (finding,) = verdict.regressions
    assert finding.startswith("trainer/tiny quality worse from seeds: ")
    assert "final training loss +0.2000" in finding and "eval loss +0.2000" in finding


def test_a_record_made_on_one_side_does_not_turn_a_change_into_an_improvement():
    """4.57.6 -> 5.24.0, full profile: the records were made on 5.24.0, so old fails them and
    new passes. Judged against the record that reads as a gain; side by side it is a change."""
    old = _report(OLD, trainer=_moved_trainer(), outcomes={"trainer": "failed"})
    verdict = build_verdict(old, _report(NEW))
    verdict.quality.append(compare_quality("trainer", "tiny", _seeds("trainer"), _seeds("trainer")))
    assert verdict.outcome is Outcome.CHANGED
    assert not any(c.kind == "improvement" for c in verdict.checks)
    assert [(c.old, c.new) for c in verdict.record_checks] == [("failed", "passed")]


def test_a_stale_record_failed_alike_on_both_sides_is_safe_for_the_upgrade():
    verdict = build_verdict(_report(OLD, outcomes={"loop": "failed"}), _report(NEW, outcomes={"loop": "failed"}))
    assert verdict.outcome is Outcome.SAFE
    assert [c.check for c in verdict.record_checks] == ["test_tiny_runs.py::test_tiny_run_matches_baseline[loop]"]
    assert verdict.failing_on_both == []


def test_a_run_missing_on_new_is_a_regression():
    new = _report(NEW)
    del new["results"][_scenario("loop")]
    verdict = build_verdict(_report(OLD), new)
    assert verdict.outcome is Outcome.REGRESSION
    assert verdict.regressions == [f"{_scenario('loop')}: no run on new (it trained on old)"]


def test_fingerprint_drift_asks_for_every_paired_runners_seeds():
    old, new = _report(OLD), _report(NEW)
    for report, value in ((old, "a"), (new, "b")):
        report["fingerprints"]["tokenized_validation"] = {"value": value, "atol": 0.0, "drifted": False,
                                                          "nodeid": "test_drift.py::test_tokenized"}
    verdict = build_verdict(old, new)
    assert verdict.escalations() == [("loop", "tiny", "mrpc"), ("trainer", "tiny", "mrpc")]
    for runner in ("loop", "trainer"):
        verdict.quality.append(compare_quality(runner, "tiny", _seeds(runner), _seeds(runner)))
    assert verdict.outcome is Outcome.CHANGED
    assert "fingerprint tokenized_validation differs" in verdict.headline()


def test_a_regression_elsewhere_still_names_the_change_that_is_not_one():
    """4.57.6 -> 5.24.0, full profile: accumulation breaks (REGRESSION) while the Trainer's
    epoch-2 data order only moves the numerics (CHANGED): the headline keeps them apart."""
    old = _report(OLD)
    new = _report(NEW, trainer=_moved_trainer())
    old["tests"]["pytest_finetune/guard/test_parity.py::test_trainer_gradient_accumulation_equals_large_batch"] = {
        "outcome": "passed", "message": ""}
    new["tests"]["pytest_finetune/guard/test_parity.py::test_trainer_gradient_accumulation_equals_large_batch"] = {
        "outcome": "xfailed", "message": "known upstream issue transformers-47688"}
    verdict = build_verdict(old, new)
    verdict.quality.append(compare_quality("trainer", "tiny", _seeds("trainer"), _seeds("trainer")))
    assert verdict.outcome is Outcome.REGRESSION
    head, _, changed = verdict.headline().partition(". CHANGED, not a regression: ")
    assert head == ("REGRESSION: 1 finding(s): check test_parity.py::test_trainer_gradient_accumulation_equals_"
                    "large_batch: passed on old, xfailed on new")
    assert changed.startswith("trainer/tiny seed 42: loss curve left the noise envelope first at step 1")
    assert "trainer/tiny: quality not worse: eval loss" in changed


LM = "mrpc-lm-tiny-random-gpt2-trainer-tiny-cpu-fp32"


def _lm_run(by=0.0, **config):
    clean = make_result(runner="trainer")
    run = make_result(runner="trainer", losses=[x + by for x in clean.losses])
    run.config = run.config.replace(**{"task": "mrpc-lm", "model": "tiny-random-gpt2", **config})
    return run


def _with_lm(report, run):
    nodeid = "pytest_finetune/guard/test_causal_lm.py::test_causal_lm_tiny_run_learns_and_matches_baseline[trainer]"
    report["tests"][nodeid] = {"outcome": "passed", "message": "", "duration": 1.0}
    report["comparisons"][LM] = {"scenario": LM, "nodeid": nodeid, "rows": [], "noise": None, "outcome": "safe"}
    report["results"][LM] = run.to_dict()
    return report


def test_a_moved_builtin_causal_lm_run_gets_seeds_of_its_own_task():
    """The causal-LM task is built in, so upgrade can train its seeds: its move is judged from
    them, apart from MRPC's run of the same runner and profile (one key per task)."""
    verdict = build_verdict(_with_lm(_report(OLD), _lm_run()), _with_lm(_report(NEW, trainer=_moved_trainer()),
                                                                         _lm_run(1e-3)))
    assert verdict.escalations() == [("trainer", "tiny", "mrpc"), ("trainer", "tiny", "mrpc-lm")]
    verdict.quality.append(compare_quality("trainer", "tiny", _seeds("trainer"), _seeds("trainer")))
    assert verdict.pending == [("trainer", "tiny", "mrpc-lm")]  # MRPC's seeds do not judge the causal LM
    verdict.quality.append(compare_quality("trainer", "tiny", _seeds("trainer"), _seeds("trainer", 0.2),
                                           task="mrpc-lm"))
    assert verdict.outcome is Outcome.REGRESSION
    (finding,) = verdict.regressions
    assert finding.startswith("trainer/tiny on mrpc-lm quality worse from seeds: ")
    changed = verdict.headline().partition(". CHANGED, not a regression: ")[2]
    assert changed.startswith("trainer/tiny seed 42: loss curve left the noise envelope")  # MRPC's: not worse
    assert "trainer/tiny on mrpc-lm seed 42" not in changed
    assert "Quality from seeds: trainer/tiny on mrpc-lm, seeds 42, 43, 44, 45, 46" in verdict.text()


@pytest.mark.parametrize("config", [{"task": "my-lm"}, {"task_source": "conftest.py:MY_LM"}],
                         ids=["own task name", "own files under the built-in name"])
def test_a_users_own_task_is_judged_by_its_recorded_band_not_by_seeds(config):
    verdict = build_verdict(_with_lm(_report(OLD), _lm_run(**config)), _with_lm(_report(NEW), _lm_run(1e-3, **config)))
    assert [m.own for m in verdict.moves if m.moved] == [True]
    assert verdict.escalations() == []
    assert verdict.outcome is Outcome.CHANGED


@pytest.mark.parametrize("task", ["mrpc", "mrpc-lm"])
def test_the_suites_seed_42_run_is_reused_as_the_first_quality_seed_of_either_builtin_task(tmp_path, task):
    """The full profile's suite already trained seed 42 as the quality runs train it: found
    in its report by the config as stored (data as the run's own task describes it)."""
    from factories import tsv_folder
    from pytest_finetune.mrpc.model_files import describe_model
    from pytest_finetune.runs.config import profile_config
    from pytest_finetune.runs.runners import BUILTIN_TASKS
    from pytest_finetune.upgrade.seeds import _reusable, quality_configs

    data = str(tsv_folder(tmp_path / "mrpc"))
    model = "tiny-random-gpt2" if task == "mrpc-lm" else None
    config = profile_config("full", runner="trainer", data=data).replace(task=task, model=model)
    suite_run = make_result(profile="full", runner="trainer", config=config, model_source=describe_model(model),
                            data_source=BUILTIN_TASKS[task].describe_source(data))
    report = {"results": {"s": suite_run.to_dict()}}
    first, second = quality_configs(config, 2)
    assert _reusable(report, first) == suite_run.to_dict()
    assert _reusable(report, second) is None


def test_a_drifted_fingerprint_asks_only_for_the_seeds_of_its_own_task():
    old, new = _with_lm(_report(OLD), _lm_run()), _with_lm(_report(NEW), _lm_run())
    for report, value in ((old, "a"), (new, "b")):
        report["fingerprints"]["mrpc-lm/tokenized_validation"] = {
            "value": value, "atol": 0.0, "drifted": False,
            "nodeid": "test_causal_lm.py::test_causal_lm_inputs_did_not_drift"}
    verdict = build_verdict(old, new)
    assert [d.task for d in verdict.drift] == ["mrpc-lm"]
    assert verdict.escalations() == [("trainer", "tiny", "mrpc-lm")]  # MRPC's inputs did not change


def test_upgrade_trains_each_moved_builtin_task_with_that_tasks_own_config(tmp_path, monkeypatch):
    """What ``upgrade`` asks the environments to train when MRPC's and the causal LM's Trainer
    runs moved: seeds 42-44 of each task, the causal LM with its own model and learning rate."""
    import argparse

    from factories import tsv_folder
    from pytest_finetune.upgrade import command
    from pytest_finetune.upgrade.progress import Progress

    verdict = build_verdict(_with_lm(_report(OLD), _lm_run()), _with_lm(_report(NEW, trainer=_moved_trainer()),
                                                                         _lm_run(1e-3)))
    asked = []

    def fake_train_seeds(envs, configs, reports, code, out_dir, progress, together=False):
        asked.extend(configs)
        return [[_seeds("trainer")[i % 3] for i in range(len(configs))] for _ in envs]

    monkeypatch.setattr(command, "train_seeds", fake_train_seeds)
    args = argparse.Namespace(seeds=3, output=str(tmp_path / "out"))
    command.judge_quality(verdict, [None, None], [{}, {}], args, {"data": str(tsv_folder(tmp_path / "mrpc"))},
                          Progress(), "code")
    assert [(c.task, c.runner, c.seed, c.model) for c in asked] == [
        ("mrpc", "trainer", 42, None), ("mrpc", "trainer", 43, None), ("mrpc", "trainer", 44, None),
        ("mrpc-lm", "trainer", 42, "tiny-random-gpt2"), ("mrpc-lm", "trainer", 43, "tiny-random-gpt2"),
        ("mrpc-lm", "trainer", 44, "tiny-random-gpt2")]
    assert {c.eval_limit for c in asked} == {None} and asked[3].lr != asked[0].lr
    assert [q.key for q in verdict.quality] == [("trainer", "tiny", "mrpc"), ("trainer", "tiny", "mrpc-lm")]
    assert verdict.pending == []


def test_the_seed_job_names_each_task_it_trains(tmp_path):
    from types import SimpleNamespace

    from pytest_finetune.runs.config import profile_config
    from pytest_finetune.upgrade.progress import Progress
    from pytest_finetune.upgrade.seeds import _seed_job, quality_configs

    env = SimpleNamespace(path=tmp_path / "env", side=SimpleNamespace(label="old"), python=tmp_path / "python",
                          subprocess_env=lambda: {})
    base = profile_config("full", runner="trainer", data="hub")
    configs = quality_configs(base, 2) + quality_configs(base.replace(task="mrpc-lm", model="tiny-random-gpt2"), 2)
    found, job = _seed_job(env, configs, {}, "code", tmp_path / "out", Progress(), None)
    assert found == {}
    assert job.label == "[old] training 4 seed run(s) (trainer/full seeds 42, 43; trainer/full on mrpc-lm seeds 42, 43)"
