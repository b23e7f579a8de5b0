"""The paired same-seed check and the bands, on synthetic results (no training).

Item 7 of issue 12, shown on the repository's stored full baselines (format 2, with the full
profile's own measured envelope): a run that equals its seed's stored record passes, a
2-point accuracy drop fails, although the seed-spread band (mean - 3 std) would let it
through, and a curve point beyond 10x the envelope fails naming its step.
"""
from __future__ import annotations

import json

import pytest

from pytest_finetune.baselines.compare import compare, measure_noise
from pytest_finetune.baselines.scenario import scenario_name, scenario_of
from pytest_finetune.baselines.store import (FORMAT_VERSION, PACKAGED_BASELINES as BASELINES, build_baseline,
                                             downsample, read_baseline, write_baseline)
from pytest_finetune.runs import RunResult

from factories import HARDWARE, make_result

_result = make_result


def _nudge(values, index, by):
    values = list(values)
    values[index] += by
    return values


def _tiny_record(tmp_path):
    """A format-2 record of 3 seeds, noise measured from two probes that moved ~1e-7."""
    clean = [_result(seed=s, accuracy=0.75 - 0.03 * (s - 42)) for s in (42, 43, 44)]
    probes = [_result(losses=[x + 6e-8 * (i % 3) for i, x in enumerate(clean[0].losses)]),
              _result(eval_losses=[e + 3e-8 for e in [0.68 - 0.01 * i for i in range(5)]])]
    record = build_baseline(clean, scenario_of(clean[0].config, "cpu"), 3.0,
                            noise=measure_noise(clean[0], probes))
    record["hardware"] = dict(HARDWARE)
    path = write_baseline(tmp_path / "b.json", record)
    return read_baseline(path)


def test_record_is_format_2_with_each_seeds_curve_and_a_measured_envelope(tmp_path):
    record = _tiny_record(tmp_path)
    assert record["format_version"] == FORMAT_VERSION == 2
    assert sorted(record["seed_runs"]) == ["42", "43", "44"]
    assert record["seed_runs"]["42"]["loss_steps"] == list(range(1, 21))  # tiny: every step
    noise = record["noise"]
    assert noise["measured_max"]["loss_curve"] == pytest.approx(1.2e-7)
    assert all(e >= 1.2e-7 for e in noise["loss_curve"][2:])  # running max along the curve
    assert len(noise["probes"]) == 2 and noise["factor"] == 10


def test_identical_run_passes_paired_and_noise_sized_moves_pass(tmp_path):
    record = _tiny_record(tmp_path)
    same = _result()
    comparison = compare(same, record, "s")
    assert comparison.passed, comparison.failures
    assert comparison.paired == "seed 42's own record"
    jitter = _result(losses=[x + 5e-7 for x in same.losses])  # < 10 x the envelope everywhere
    assert compare(jitter, record, "s").passed


def test_optimizer_like_change_names_the_first_step_and_the_runner(tmp_path):
    record = _tiny_record(tmp_path)
    losses = _result().losses
    moved = _result(runner="loop", losses=[x if i < 2 else x + 1e-4 * i for i, x in enumerate(losses)])
    comparison = compare(moved, record, "s")
    assert not comparison.passed
    text = "\n".join(comparison.failures)
    assert "loss curve (loop runner, seed 42): left the noise envelope first at step 3 of 20" in text
    assert "acts through the updates" in text


def test_data_like_change_at_step_1_says_so(tmp_path):
    record = _tiny_record(tmp_path)
    moved = _result(losses=_nudge(_result().losses, 0, 2e-5))
    text = "\n".join(compare(moved, record, "s").failures)
    assert "first at step 1 of 20" in text and "step 1 already moved" in text


def test_eval_side_change_is_caught_by_eval_loss_and_fixed_batch_logits(tmp_path):
    record = _tiny_record(tmp_path)
    moved = _result(logits=[[0.1, -0.2], [0.3, 0.0501]], eval_losses=[0.68 - 0.01 * i + 1e-5 for i in range(5)])
    text = "\n".join(compare(moved, record, "s").failures)
    assert "eval loss left the noise envelope first after epoch 1" in text
    assert "fixed-batch eval logits moved" in text


def test_another_cpu_kind_falls_back_to_bands_with_a_note(tmp_path):
    record = _tiny_record(tmp_path)
    moved = _result(losses=[x + 1e-3 for x in _result().losses],
                    hardware=dict(HARDWARE, cpu_capability="AVX512"))
    comparison = compare(moved, record, "s")
    assert comparison.passed and comparison.paired == ""
    assert any("recorded on a AVX2 CPU" in note for note in comparison.notes)


def test_tiny_band_is_not_narrower_than_two_eval_predictions(tmp_path):
    """32 eval pairs: one flipped prediction (0.031) must not fail the band of a seed
    without a record, even when the seeds' accuracy std is 0."""
    record = _tiny_record(tmp_path)
    record["metrics"]["accuracy"].update(std=0.0, mean=0.75)
    one_flip = _result(seed=45, accuracy=0.75 - 1 / 32)
    comparison = compare(one_flip, record, "s")
    assert comparison.passed, comparison.failures
    three_flips = _result(seed=45, accuracy=0.75 - 3 / 32)
    assert not compare(three_flips, record, "s").passed


def _full_result(runner: str, record: dict, seed: int = 42, accuracy_change: float = 0.0,
                 curve_change: tuple[int, float] | None = None) -> RunResult:
    """A synthetic full run that reproduces ``seed``'s stored record (curve, eval, logits,
    metrics), with its accuracy moved by ``accuracy_change`` and one curve point moved by
    ``curve_change = (point, multiple of the envelope there)``."""
    stored = record["seed_runs"][str(seed)]
    points = list(stored["losses"])
    if curve_change:
        point, times = curve_change
        points[point] += times * record["noise"]["loss_curve"][point]
    losses, start = [], 0
    for step, value in zip(stored["loss_steps"], points):
        losses += [value] * (step - start)
        start = step
    assert len(losses) == 460 and downsample(losses, 100)[0] == stored["loss_steps"]
    return _result(profile="full", runner=runner, seed=seed, losses=losses,
                   accuracy=stored["accuracy"] + accuracy_change, f1=stored["f1"],
                   eval_losses=[e["eval_loss"] for e in stored["eval_history"]], n_eval=408,
                   logits=stored["eval_logits"], hardware=dict(record["hardware"]))


def _stored_full(runner: str) -> tuple[dict, str]:
    record = read_baseline(BASELINES / f"mrpc-all-MiniLM-L6-v2-{runner}-full-cpu-fp32-group_by_length.json")
    assert record["format_version"] == 2 and record["seeds"] == [42, 43, 44] and record["noise"]
    return record, scenario_name(record["scenario"])


@pytest.mark.parametrize("runner", ["trainer", "loop"])
def test_full_profile_unchanged_passes_and_a_two_point_drop_fails(runner):
    """Against the repository's stored full baselines (format 2): a run equal to seed 42's
    record passes its paired check; a 2-point accuracy drop fails, although the seed-spread
    band (mean - 3 std) would let it through."""
    record, scenario = _stored_full(runner)
    unchanged = compare(_full_result(runner, record), record, scenario)
    assert unchanged.passed, unchanged.failures
    assert unchanged.paired == "seed 42's own record"
    assert any(row.metric.startswith("loss curve (paired") for row in unchanged.rows)

    band_low = record["metrics"]["accuracy"]["mean"] - 3 * record["metrics"]["accuracy"]["std"]
    dropped = _full_result(runner, record, accuracy_change=-0.02)
    assert dropped.accuracy > band_low  # the band alone would not see it
    comparison = compare(dropped, record, scenario)
    assert not comparison.passed
    assert any(f.startswith(f"accuracy ({runner} runner, seed 42)") and "-0.0200" in f
               for f in comparison.failures), comparison.failures


@pytest.mark.parametrize("runner", ["trainer", "loop"])
def test_full_profile_curve_point_beyond_ten_envelopes_fails_and_says_where(runner):
    """The stored full envelope is used point by point: 9x it at bucket 50 passes, 11x fails,
    and the failure names the bucket's last step and the runner."""
    record, scenario = _stored_full(runner)
    assert compare(_full_result(runner, record, curve_change=(50, 9.0)), record, scenario).passed
    moved = compare(_full_result(runner, record, curve_change=(50, 11.0)), record, scenario)
    step = record["seed_runs"]["42"]["loss_steps"][50]
    assert any(f.startswith(f"loss curve ({runner} runner, seed 42): left the noise envelope first at "
                            f"bucket ending at step {step} of 460") for f in moved.failures), moved.failures


@pytest.mark.parametrize("runner", ["trainer", "loop"])
def test_full_profile_change_starting_with_epoch_2_says_so(runner):
    """Measured: transformers 4.57.6's Trainer draws its length-grouped eval sampler's shuffle
    from the global RNG, 5.x gives it its own generator, so epoch 2 is ordered differently
    and the curve first leaves at the bucket holding step 231. The failure names the epoch."""
    record, scenario = _stored_full(runner)
    steps = record["seed_runs"]["42"]["loss_steps"]
    bucket = next(i for i, step in enumerate(steps) if step >= 231)
    moved = compare(_full_result(runner, record, curve_change=(bucket, 1e4)), record, scenario)
    assert any(f"bucket ending at step {steps[bucket]} of 460" in f and "first step of epoch 2" in f
               and "points at the data order of epoch 2" in f for f in moved.failures), moved.failures
    elsewhere = compare(_full_result(runner, record, curve_change=(bucket + 3, 1e4)), record, scenario)
    assert not any("epoch 2" in f for f in elsewhere.failures if f.startswith("loss curve")), elsewhere.failures


def test_format_1_files_still_read(tmp_path):
    """A format-1 file (no per-seed records, no envelope) still reads and gets the paired
    accuracy/F1 check with a note to re-record."""
    data = json.loads((BASELINES / "mrpc-all-MiniLM-L6-v2-loop-full-cpu-fp32-group_by_length.json").read_text())
    for key in ("seed_runs", "noise"):
        data.pop(key, None)
    data["format_version"] = 1
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    record = read_baseline(path)
    assert record["format_version"] == 1
    seed = data["seeds"][0]
    stored = record["metrics"]["accuracy"]["values"][0]
    run = _result(profile="full", seed=seed, accuracy=stored - 0.02, f1=record["metrics"]["f1"]["values"][0],
                  n_eval=408, losses=[0.5] * 460, eval_losses=[0.5, 0.45], hardware=dict(data["hardware"]))
    comparison = compare(run, record, "s")
    assert any("format 1" in note for note in comparison.notes)
    assert any(f.startswith(f"accuracy (loop runner, seed {seed})") for f in comparison.failures)


@pytest.mark.parametrize("total, cut", [(460, 14), (460, 46), (460, 459), (20, 7), (20, 20)])
def test_downsample_of_a_cut_run_gives_the_whole_runs_first_points(total, cut):
    """``benchmarks/power.py`` judges full runs stopped after their first steps: the points
    of the cut curve must be exactly (bit for bit) the whole run's first points."""
    losses = [0.7 / (1 + 0.013 * i) + 1e-3 * ((i * 7919) % 13) for i in range(total)]
    steps, points = downsample(losses, 100)
    cut_steps, cut_points = downsample(losses[:cut], 100, total=total)
    assert cut_steps == steps[:len(cut_steps)] and cut_points == points[:len(cut_points)]
    assert cut_steps and cut_steps[-1] <= cut < (steps[len(cut_steps)] if len(cut_steps) < len(steps) else cut + 1)
