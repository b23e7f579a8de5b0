"""Baseline files: one JSON per scenario, human-readable, diff-friendly, written atomically.

A baseline is a measurement: it keeps the seeds' values and their spread, the config and
library versions that produced them, and where its tolerance comes from.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import statistics
from pathlib import Path
from typing import Any, Sequence

from pytest_finetune.errors import BaselineError
from pytest_finetune._io import write_json
from pytest_finetune.runs.result import RunResult
from pytest_finetune.baselines.scenario import scenario_name

FORMAT_VERSION = 1
REQUIRED_KEYS = ("format_version", "scenario", "metrics", "tolerance", "loss_curve", "config",
                 "versions", "seeds")
METRICS = ("accuracy", "f1")
METRIC_FLOOR = 0.01  # smallest band half-width: below it, seed noise is under-sampled
LOSS_FLOOR = 0.05
LOSS_POINTS = 40


def baseline_path(folder: Path, scenario: dict[str, str]) -> Path:
    return Path(folder) / f"{scenario_name(scenario)}.json"


def obtained_path(path: Path) -> Path:
    return path.with_name(path.name[: -len(".json")] + ".obtained.json")


def downsample(losses: Sequence[float], points: int = LOSS_POINTS) -> tuple[list[int], list[float]]:
    """Bucket means (not samples): each point averages its steps, so noise shrinks."""
    n = len(losses)
    points = min(points, n)
    edges = [round(i * n / points) for i in range(points + 1)]
    steps = [edges[i + 1] for i in range(points)]  # last step of each bucket, 1-based
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


def build_baseline(results: Sequence[RunResult], scenario: dict[str, str], k: float) -> dict[str, Any]:
    """Summarize one run per seed into a baseline record."""
    first = results[0]
    curves = [downsample(r.losses)[1] for r in results]
    steps = downsample(first.losses)[0]
    single = len(results) == 1
    return {
        "format_version": FORMAT_VERSION,
        "scenario": scenario,
        "seeds": [r.config.seed for r in results],
        "metrics": {m: _stats([getattr(r, m) for r in results]) for m in METRICS},
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
        "config": {key: value for key, value in first.to_dict()["config"].items() if key != "seed"},
        "versions": first.versions,
        "hardware": first.hardware,
        "wall_time_s": statistics.fmean(r.wall_time_s for r in results),
        "examples_per_s": statistics.fmean(r.examples_per_s for r in results),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def write_baseline(path: Path, record: dict[str, Any]) -> Path:
    return write_json(path, record)


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object from a file we wrote; every problem is a BaselineError naming the file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise BaselineError(f"{path}: not UTF-8 text; a baseline is a JSON file") from None
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg}); restore it from git "
                            "or regenerate with --finetune-update-baselines") from None
    if not isinstance(record, dict):
        raise BaselineError(f"{path}: expected a JSON object, found {type(record).__name__}")
    version = record.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise BaselineError(f"{path}: format_version {version!r} is not one this pytest-finetune "
                            f"reads (<= {FORMAT_VERSION}); upgrade pytest-finetune or regenerate")
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
    if scenario is not None and record["scenario"] != scenario:
        raise BaselineError(f"{path}: holds scenario {scenario_name(record['scenario'])}, "
                            f"expected {scenario_name(scenario)}")
    return record


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _shape_problem(record: dict[str, Any]) -> str | None:
    """What is wrong with the record's structure, or None: compare() relies on all of it."""
    if not isinstance(record["scenario"], dict) or not all(isinstance(v, str) for v in record["scenario"].values()):
        return "scenario must be an object of strings"
    metrics = record["metrics"]
    for metric in METRICS:
        stats = metrics.get(metric) if isinstance(metrics, dict) else None
        if not isinstance(stats, dict) or not all(_is_number(stats.get(k)) for k in ("mean", "std")) \
                or not isinstance(stats.get("values", []), list):
            return f"metrics.{metric} needs numeric mean and std"
    tolerance = record["tolerance"]
    if not isinstance(tolerance, dict) or not all(_is_number(tolerance.get(k)) for k in ("k", "metric_floor", "loss_floor")):
        return "tolerance needs numeric k, metric_floor and loss_floor"
    curve = record["loss_curve"]
    if not isinstance(curve, dict) or not all(isinstance(curve.get(k), list) for k in ("steps", "mean", "std")):
        return "loss_curve needs lists steps, mean and std"
    if not len(curve["steps"]) == len(curve["mean"]) == len(curve["std"]) or \
            not all(_is_number(x) for k in ("steps", "mean", "std") for x in curve[k]):
        return "loss_curve lists must be numbers of equal length"
    if not isinstance(record["versions"], dict) or not isinstance(record["config"], dict):
        return "versions and config must be objects"
    return None


def find_baseline(folder: Path, scenario: dict[str, str]) -> tuple[Path | None, str | None]:
    """The exact scenario's file, else one for the same device family (with a note saying so)."""
    exact = baseline_path(folder, scenario)
    if exact.is_file():
        return exact, None
    family = scenario["device"].split("-")[0]
    if family == "cuda":
        for candidate in sorted(Path(folder).glob("*.json")):
            if candidate.name.endswith(".obtained.json"):
                continue
            try:
                other = json.loads(candidate.read_text(encoding="utf-8"))["scenario"]
            except Exception:
                continue
            if other.get("device", "").startswith("cuda") and \
                    {k: v for k, v in other.items() if k != "device"} == \
                    {k: v for k, v in scenario.items() if k != "device"}:
                return candidate, (f"no baseline for {scenario['device']}; using the closest "
                                   f"match {other['device']} ({candidate.name})")
    return None, None
