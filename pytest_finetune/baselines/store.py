"""Baseline files: one JSON per scenario, human-readable, diff-friendly, written atomically.

A baseline is a measurement: it keeps the seeds' values and their spread, the config and
library versions that produced them, and where its tolerance comes from.

Format 2 (this version writes it; format 1 files are still read) adds what the paired
same-seed check needs: ``seed_runs`` keeps each seed's own loss curve (every step up to
``SEED_POINTS`` steps, bucket means beyond), per-epoch eval history and the logits of a
fixed eval batch; ``noise`` is the numerical-noise envelope measured when the baseline was
made (``baselines.compare.measure_noise`` says how). Format 1 has neither: a run compared
with it gets the seed-spread bands and a paired check of its seed's accuracy/F1 only.
"""
from __future__ import annotations

import datetime as _dt
import math
import statistics
from pathlib import Path
from typing import Any, Sequence

from pytest_finetune.errors import BaselineError
from pytest_finetune._io import loads_json, read_json, user_temp_folder, write_json
from pytest_finetune.runs.result import RunResult
from pytest_finetune.baselines.scenario import scenario_name, without_identity
from pytest_finetune.tasks.base import lower_is_better

FORMAT_VERSION = 2
REQUIRED_KEYS = ("format_version", "scenario", "metrics", "tolerance", "loss_curve", "config",
                 "versions", "seeds")
METRICS = ("accuracy", "f1")  # MRPC's; a record's own are the keys of its "metrics" (metric_names)
METRIC_FLOOR = 0.01  # smallest band half-width: below it, seed noise is under-sampled
LOSS_FLOOR = 0.05
LOSS_POINTS = 40
# Baselines and drift fingerprints of the embedded model on CPU, shipped as package data so
# that the guard suite works right after `pip install`. Read-only: looked up after the
# user's folder, never written (in a user's install it is inside site-packages).
PACKAGED_BASELINES = Path(__file__).resolve().parent / "defaults"


def stored_file(folder: Path, name: str) -> Path | None:
    """The stored file ``name``: the user's ``folder`` first, the packaged defaults second.

    The one place of that precedence; writers never call it (they write to ``folder``).
    """
    for base in (Path(folder), PACKAGED_BASELINES):
        if (base / name).is_file():
            return base / name
    return None


def is_packaged(path: Path) -> bool:
    """Whether ``path`` is one of the packaged defaults (for messages: where a value came from)."""
    return Path(path).resolve().parent == PACKAGED_BASELINES
SEED_POINTS = 100  # per-seed curves: full resolution up to 100 steps (tiny: 20), bucket means beyond


def baseline_path(folder: Path, scenario: dict[str, str]) -> Path:
    return Path(folder) / f"{scenario_name(scenario)}.json"


def obtained_path(path: Path) -> Path:
    """Where a failing run's result is kept for review, next to the baseline ``path`` it failed.

    Beside it in the user's baselines folder (accepting it is a ``mv`` a reviewer sees),
    except when that folder is the package's own defaults (this repository's ini points
    there; a user may point at an installed copy): a run never writes into the package, so
    the file goes to this user's temp folder, and the message names it as ever.
    """
    name = path.name[: -len(".json")] + ".obtained.json"
    if Path(path).parent.resolve() == PACKAGED_BASELINES:
        return user_temp_folder("obtained") / name
    return path.with_name(name)


def downsample(losses: Sequence[float], points: int = LOSS_POINTS,
               total: int | None = None) -> tuple[list[int], list[float]]:
    """Bucket means (not samples): each point averages its steps, so noise shrinks.

    ``total``: the run's planned step count when ``losses`` is only its beginning (a run cut
    short on purpose, as ``benchmarks/power.py`` does with full runs): the buckets are those
    of the whole run, and only the ones ``losses`` completes are returned, so the points
    equal the whole run's first points exactly.
    """
    n = len(losses) if total is None else total
    points = min(points, n)
    edges = [round(i * n / points) for i in range(points + 1)]
    edges = [e for e in edges if e <= len(losses)]
    steps = edges[1:]  # last step of each bucket, 1-based
    means = [sum(losses[a:b]) / (b - a) for a, b in zip(edges, edges[1:])]
    return steps, means


def _stats(values: Sequence[float]) -> dict[str, Any]:
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
        "values": list(values),
    }


def metric_names(record: dict[str, Any]) -> list[str]:
    """The metrics a baseline holds (MRPC: accuracy, f1), in the order it lists them."""
    metrics = record.get("metrics")
    return list(metrics) if isinstance(metrics, dict) else list(METRICS)


def seed_record(result: RunResult) -> dict[str, Any]:
    """What the paired check keeps of one seed's run: its own curve, not only the mean."""
    steps, losses = downsample(result.losses, SEED_POINTS)
    return {
        "loss_steps": steps,
        "losses": losses,
        "eval_history": result.eval_history,
        "eval_logits": result.eval_logits,
        **{name: float(value) for name, value in result.metrics.items()},
        "prediction_counts": result.prediction_counts,
    }


def seed_metric(record: dict[str, Any], seed: int, metric: str) -> float | None:
    """One seed's stored metric, from format 2's ``seed_runs`` or format 1's ``values``."""
    runs = record.get("seed_runs") or {}
    if str(seed) in runs:
        return float(runs[str(seed)][metric])
    seeds, values = record.get("seeds", []), record["metrics"][metric].get("values", [])
    if seed in seeds and len(values) == len(seeds):
        return float(values[seeds.index(seed)])
    return None


def build_baseline(results: Sequence[RunResult], scenario: dict[str, str], k: float,
                   noise: dict[str, Any] | None = None) -> dict[str, Any]:
    """Summarize one run per seed into a baseline record.

    ``noise``: the envelope from ``baselines.compare.measure_noise`` (None: not measured,
    e.g. an ``*.obtained.json`` of one run; the paired check then checks metrics only).
    """
    first = results[0]
    curves = [downsample(r.losses)[1] for r in results]
    steps = downsample(first.losses)[0]
    single = len(results) == 1
    return {
        "format_version": FORMAT_VERSION,
        "scenario": scenario,
        "seeds": [r.config.seed for r in results],
        "metrics": {m: _stats([r.metrics[m] for r in results]) for m in first.metrics},
        "eval_history": [
            {key: statistics.fmean(r.eval_history[i][key] for r in results) for key in first.eval_history[i]}
            for i in range(len(first.eval_history))
        ],
        "loss_curve": {
            "steps": steps,
            "mean": [statistics.fmean(c[i] for c in curves) for i in range(len(steps))],
            "std": [statistics.stdev(c[i] for c in curves) if not single else 0.0 for i in range(len(steps))],
        },
        "tolerance": {
            "k": k,
            "metric_floor": METRIC_FLOOR,
            "loss_floor": LOSS_FLOOR,
            "source": ("single seed: no measured spread, the floors alone set the band"
                       if single else f"{len(results)} seeds: band = mean +/- max(k*std, floor)"),
        },
        "seed_runs": {str(r.config.seed): seed_record(r) for r in results},
        **({"noise": noise} if noise else {}),
        "config": {key: value for key, value in first.to_dict()["config"].items() if key != "seed"},
        "versions": first.versions,
        "hardware": first.hardware,
        "wall_time_s": statistics.fmean(r.wall_time_s for r in results),
        "examples_per_s": statistics.fmean(r.examples_per_s for r in results),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def write_baseline(path: Path, record: dict[str, Any]) -> Path:
    """Write a baseline, fingerprint or obtained file atomically; a failure is one line."""
    try:
        return write_json(path, record)
    except OSError as exc:
        raise BaselineError(f"{path}: cannot write ({exc.strerror or exc}); expected a writable "
                            "baselines folder") from None


def read_fingerprints(path: Path) -> dict[str, Any]:
    """A model's drift-fingerprint file: a JSON object, its ``versions`` an object of strings."""
    record = read_json_object(path)
    versions = record.get("versions", {})
    if not isinstance(versions, dict) or not all(isinstance(v, str) for v in versions.values()):
        raise BaselineError(f"{path}: versions must be an object of version strings")
    return record


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object from a file we wrote; every problem is a BaselineError naming the file."""
    record = read_json(path, BaselineError, "restore it from git or regenerate with --finetune-update-baselines")
    if not isinstance(record, dict):
        raise BaselineError(f"{path}: expected a JSON object, found {type(record).__name__}")
    version = record.get("format_version")
    if not _is_int(version) or not 1 <= version <= FORMAT_VERSION:
        raise BaselineError(f"{path}: format_version {version!r} is not one this pytest-finetune "
                            f"reads (a whole number 1..{FORMAT_VERSION}); upgrade pytest-finetune or regenerate")
    return record


def read_baseline(path: Path, scenario: dict[str, str] | None = None) -> dict[str, Any]:
    """Load and validate a scenario baseline."""
    record = read_json_object(path)
    missing = [key for key in REQUIRED_KEYS if key not in record]
    if missing:
        raise BaselineError(f"{path}: missing key(s) {', '.join(missing)}")
    problem = _shape_problem(record)
    if problem:
        raise BaselineError(f"{path}: malformed baseline ({problem})")
    if scenario is not None and without_identity(record["scenario"]) != without_identity(scenario):
        raise BaselineError(f"{path}: holds scenario {scenario_name(record['scenario'])}, "
                            f"expected {scenario_name(scenario)}")
    return record


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


def _shape_problem(record: dict[str, Any]) -> str | None:
    """What is wrong with the record, or None: compare() relies on all of it.

    Beyond types, the numbers must be ones a run could have produced: metrics in [0, 1],
    ``mean``/``std``/``min``/``max`` those of the seeds' ``values`` (one per seed: a std
    typed in by hand, large enough to switch the check off, disagrees with them), and no
    negative spread or floor. A band that real seeds make too wide to exclude anything is
    reported by ``compare``, which knows the session's k. Format 2's per-seed records are
    checked as far as both formats share them.
    """
    if not isinstance(record["scenario"], dict) or not all(isinstance(v, str) for v in record["scenario"].values()):
        return "scenario must be an object of strings"
    seeds = record["seeds"]
    if not isinstance(seeds, list) or not seeds or not all(_is_int(s) and s >= 0 for s in seeds) \
            or len(set(seeds)) != len(seeds):
        return "seeds must be a non-empty list of distinct whole numbers >= 0"
    tolerance = record["tolerance"]
    if not isinstance(tolerance, dict) or not all(_is_number(tolerance.get(k)) for k in ("k", "metric_floor", "loss_floor")):
        return "tolerance needs numeric k, metric_floor and loss_floor"
    for key in ("k", "metric_floor", "loss_floor"):
        if tolerance[key] < 0:
            return f"tolerance.{key} is {tolerance[key]!r}; expected a number >= 0"
    metrics = record["metrics"]
    if not isinstance(metrics, dict) or not metrics:
        return "metrics must be a non-empty object of metric name -> seed statistics"
    for metric in metrics:
        problem = _metric_problem(metric, metrics.get(metric), seeds, tolerance)
        if problem:
            return problem
    curve = record["loss_curve"]
    if not isinstance(curve, dict) or not all(isinstance(curve.get(k), list) for k in ("steps", "mean", "std")):
        return "loss_curve needs lists steps, mean and std"
    if not len(curve["steps"]) == len(curve["mean"]) == len(curve["std"]) or not curve["steps"] or \
            not all(_is_number(x) for k in ("steps", "mean", "std") for x in curve[k]):
        return "loss_curve lists must be non-empty lists of numbers of equal length"
    steps = curve["steps"]
    if not all(_is_int(s) for s in steps) or steps[0] < 1 or any(b <= a for a, b in zip(steps, steps[1:])):
        return "loss_curve.steps must be increasing whole numbers >= 1"
    if any(x < 0 for k in ("mean", "std") for x in curve[k]):
        return "loss_curve mean and std must be >= 0 (a loss and a spread are never negative)"
    if not isinstance(record["versions"], dict) or not isinstance(record["config"], dict):
        return "versions and config must be objects"
    noise = record.get("noise")
    if noise is not None and (not isinstance(noise, dict) or any(x < 0 for x in _numbers_inside(noise))):
        return "noise must be an object of numbers >= 0"
    return _paired_problem(record)


def _number_list(value: Any) -> bool:
    return isinstance(value, list) and all(_is_number(x) for x in value)


def _paired_problem(record: dict[str, Any]) -> str | None:
    """Format 2's per-seed records and noise envelope, when present."""
    runs = record.get("seed_runs", {})
    names = metric_names(record)
    if not isinstance(runs, dict):
        return "seed_runs must be an object"
    for seed, run in runs.items():
        if not isinstance(run, dict) or not _number_list(run.get("loss_steps")) or not _number_list(run.get("losses")) \
                or len(run["loss_steps"]) != len(run["losses"]) or not all(_is_number(run.get(m)) for m in names) \
                or not isinstance(run.get("eval_history"), list) or not isinstance(run.get("eval_logits"), list):
            return (f"seed_runs.{seed} needs loss_steps and losses (numbers, equal length), "
                    f"{', '.join(names)}, eval_history and eval_logits")
    noise = record.get("noise")
    if noise is not None:
        if not isinstance(noise, dict) or not _number_list(noise.get("loss_curve")) or not _number_list(noise.get("eval_loss")) \
                or not all(_is_number(noise.get(k)) for k in ("eval_logits", "factor", *names)):
            return ("noise needs lists loss_curve and eval_loss and numbers eval_logits, factor, "
                    f"{', '.join(names)}")
    return None


def _metric_problem(metric: str, stats: Any, seeds: list[int], tolerance: dict[str, Any]) -> str | None:
    where = f"metrics.{metric}"
    if not isinstance(stats, dict) or not all(_is_number(stats.get(k)) for k in ("mean", "std")):
        return f"{where} needs numeric mean and std"
    values = stats.get("values")
    if not isinstance(values, list) or not values or not all(_is_number(v) for v in values):
        return f"{where}.values must be a non-empty list of numbers (one per seed)"
    if len(values) != len(seeds):
        return f"{where}.values has {len(values)} value(s) for {len(seeds)} seed(s)"
    if lower_is_better(metric):  # perplexity: any number >= 0
        if not all(v >= 0 for v in values):
            return f"{where}.values must be >= 0, found {min(values)!r}"
    elif not all(0 <= v <= 1 for v in values):
        return f"{where}.values must lie in [0, 1], found {min(values)!r}..{max(values)!r}"
    if stats["std"] < 0:
        return f"{where}.std is {stats['std']!r}; expected a number >= 0"
    expected = {"mean": statistics.fmean(values),
                "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                "min": min(values), "max": max(values)}
    for key, value in expected.items():
        if key in stats and not (_is_number(stats[key]) and _close(stats[key], value)):
            return f"{where}.{key} is {stats[key]!r} but its values give {value:.6g}"
    return None


def _numbers_inside(value: Any) -> list[float]:
    """Every number inside a JSON value (nested objects and lists)."""
    if isinstance(value, dict):
        return [x for item in value.values() for x in _numbers_inside(item)]
    if isinstance(value, list):
        return [x for item in value for x in _numbers_inside(item)]
    return [value] if _is_number(value) else []


def stored_baselines(folder: Path) -> list[Path]:
    """The baseline and fingerprint files in ``folder``: ``*.json`` without the
    ``*.obtained.json`` results beside them or temporary files of interrupted writes."""
    return sorted(p for p in Path(folder).glob("*.json")  # temporary files end in .tmp
                  if not p.name.endswith(".obtained.json") and p.is_file())


def find_baseline(folder: Path, scenario: dict[str, str]) -> tuple[Path | None, str | None]:
    """The exact scenario's file (the user's ``folder`` first, then the packaged defaults),
    else one for the same device family (with a note saying so)."""
    own = baseline_path(folder, scenario)
    if own.exists() and not own.is_file():  # a folder (or other non-file) where the baseline belongs
        raise BaselineError(f"{own}: is not a file; expected the scenario's baseline JSON here")
    exact = stored_file(folder, own.name)
    if exact is not None:
        return exact, None
    family = scenario["device"].split("-")[0]
    if family == "cuda":
        for base in dict.fromkeys((Path(folder), PACKAGED_BASELINES)):  # the user's first
            for candidate in stored_baselines(base):
                try:
                    other = loads_json(candidate.read_text(encoding="utf-8"))["scenario"]
                except Exception:
                    continue
                if other.get("device", "").startswith("cuda") and \
                        {k: v for k, v in other.items() if k != "device"} == \
                        {k: v for k, v in scenario.items() if k != "device"}:
                    return candidate, (f"no baseline for {scenario['device']}; using the closest "
                                       f"match {other['device']} ({candidate.name})")
    return None, None
