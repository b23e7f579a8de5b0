"""The seeds behind "quality is not worse": trained on both sides of an upgrade, cached.

When the two sides' same-seed runs of a runner differ (``Verdict.escalations``), whether
quality moved is judged from several seeds per side (``baselines.quality``). Each side's
seeds train in that side's environment, in a fresh process of its own interpreter
(``python -m pytest_finetune.upgrade.seeds JOBS``), like its guard suite.

The quality runs are the profile's runs with one change: they evaluate on the whole
validation split (``eval_limit=None``; the tiny profile's 32 pairs move accuracy in steps
of 0.031, too coarse to see a harmful change). A run the suite already trained with
exactly that configuration (the full profile's seed 42) is reused, and every run is cached
in the environment's folder under a key of its configuration (the data and model by
content), the seed and pytest-finetune's own code, so a rerun, or ``bisect`` stepping
through the same environment, trains nothing twice.
"""
from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from pytest_finetune._io import atomic_write_text, loads_json
from pytest_finetune.baselines.quality import run_label
from pytest_finetune.runs.config import RunConfig
from pytest_finetune.upgrade.envs import Env, UpgradeFailed
from pytest_finetune.upgrade.progress import Job, Progress
from pytest_finetune.upgrade.specs import UpgradeInputError

# Seeds per side, by profile: chosen from the measured power curve (benchmarks/README.md,
# "Seeds per side"): more seeds shrink the smallest detectable worsening as 1/sqrt(n).
DEFAULT_SEEDS = {"tiny": 5, "full": 3, "gpu": 3}
RUNS_FOLDER = "seed-runs"


def quality_configs(base: RunConfig, seeds: int) -> list[RunConfig]:
    """``seeds`` runs of ``base``'s scenario, seeds ``base.seed`` on, each evaluated on the
    whole validation split."""
    return [base.replace(seed=base.seed + i, eval_limit=None) for i in range(seeds)]


def stored_config(config: RunConfig) -> dict[str, Any]:
    """``config`` as a record stores it: the data (as its task describes it) and the model
    by content, never by path. Seeds train built-in tasks only (``Verdict.escalations``)."""
    from pytest_finetune.mrpc.model_files import describe_model
    from pytest_finetune.runs.runners import BUILTIN_TASKS

    data = BUILTIN_TASKS[config.task].describe_source(config.data)
    return {**config.to_dict(), "data": data, "model": describe_model(config.model)}


def cache_file(env: Env, config: RunConfig, code: str) -> Path:
    """Where ``env`` keeps the run of ``config`` made by pytest-finetune code ``code``."""
    blob = json.dumps({"config": stored_config(config), "code": code}, sort_keys=True)
    return env.path / RUNS_FOLDER / f"{hashlib.sha256(blob.encode()).hexdigest()[:20]}.json"


def _reusable(report: Mapping[str, Any], config: RunConfig) -> dict[str, Any] | None:
    """A run of the suite's report with exactly ``config`` (as stored), if there is one."""
    wanted = stored_config(config)
    for result in report.get("results", {}).values():
        if result.get("config") == wanted:
            return dict(result)
    return None


def _seed_job(env: Env, configs: Sequence[RunConfig], report: Mapping[str, Any], code: str, out_dir: Path,
              progress: Progress, cache_dir: str | None) -> tuple[dict[int, dict[str, Any]], Job | None]:
    """What ``env``'s side already has of ``configs`` (by index), and the job that trains the rest."""
    found: dict[int, dict[str, Any]] = {}
    jobs = []
    to_train: dict[str, list[str]] = {}  # what the job trains, by runner/profile/task: its seeds
    for index, config in enumerate(configs):
        reused = _reusable(report, config)
        path = cache_file(env, config, code)
        if reused is not None:
            found[index] = reused
        elif path.is_file():
            found[index] = loads_json(path.read_text(encoding="utf-8"))
        else:
            jobs.append({"config": config.to_dict(), "out": str(path)})
            to_train.setdefault(run_label(config.runner, config.profile, config.task), []).append(str(config.seed))
    label = f"[{env.side.label}]"
    if found:
        progress.say(f"{label} seed runs: {len(found)} of {len(configs)} reused (suite report or cache)")
    if not jobs:
        return found, None
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs_file = out_dir / f"{env.side.label}-seed-jobs.json"
    atomic_write_text(jobs_file, json.dumps({"cache_dir": cache_dir, "runs": jobs}, indent=1))
    seeds = "; ".join(f"{what} seeds {', '.join(numbers)}" for what, numbers in to_train.items())
    return found, Job(f"{label} training {len(jobs)} seed run(s) ({seeds})",
                      [str(env.python), "-m", "pytest_finetune.upgrade.seeds", str(jobs_file)],
                      out_dir / f"{env.side.label}-seeds.log", env.subprocess_env())


def train_seeds(envs: Sequence[Env], configs: Sequence[RunConfig], reports: Sequence[Mapping[str, Any]],
                code: str, out_dir: Path, progress: Progress, cache_dir: str | None = None,
                together: bool = False) -> list[list[dict[str, Any]]]:
    """The runs of ``configs`` on each environment's side (RunResult dicts, in order): reused
    from its suite report or its cache, the rest trained now in one process of its
    interpreter per side, the sides one after the other or (``together``) at the same time.
    ``cache_dir``: the runs' data cache; None: each environment's own, as its suite's."""
    planned = [_seed_job(env, configs, report, code, out_dir, progress, cache_dir)
               for env, report in zip(envs, reports)]
    jobs = [job for _, job in planned if job is not None]
    statuses = progress.run_all(jobs) if together else [progress.run(job.label, job.command, job.log, env=job.env)
                                                       for job in jobs]
    for job, status in zip(jobs, statuses):
        if status == 2:
            raise UpgradeInputError(f"{job.label.split(']')[0]}] the seed runs refused their input: "
                                    f"{_last_line(job.log)} (log: {job.log})")
        if status != 0:
            raise UpgradeFailed(f"{job.label.split(']')[0]}] the seed runs did not finish (exit {status}): "
                                f"{_last_line(job.log)}; see {job.log}")
    runs = []
    for env, (found, _) in zip(envs, planned):
        for index, config in enumerate(configs):
            if index not in found:
                found[index] = loads_json(cache_file(env, config, code).read_text(encoding="utf-8"))
        runs.append([found[index] for index in range(len(configs))])
    return runs


def _last_line(log: Path) -> str:
    lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines() if log.is_file() else []
    return lines[-1] if lines else "no output"


def main(argv: Sequence[str] | None = None) -> int:
    """In one side's environment: train each job's config, write its RunResult JSON.

    Exit 0 done, 2 bad input (one line: the data or model cannot be used), 3 anything else.
    A run is written when it is complete, so an interrupted call keeps the runs it finished.
    """
    from pytest_finetune.config.options import OPTIONS_BY_DEST, resolve
    from pytest_finetune.errors import FinetuneError
    from pytest_finetune.runs.execute import execute_run

    args = list(sys.argv[1:] if argv is None else argv)
    jobs = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    runs = jobs["runs"]
    # The environment's own data cache (PYTEST_FINETUNE_CACHE, set per side), as its suite uses.
    cache_dir = jobs.get("cache_dir") or resolve(OPTIONS_BY_DEST["cache_dir"], None, None)
    for number, job in enumerate(runs, start=1):
        config = RunConfig.from_dict(job["config"])
        started = time.monotonic()
        try:
            result = execute_run(config, cache_dir=cache_dir)
        except FinetuneError as exc:
            print(f"pytest-finetune: {exc}", flush=True)
            return 2
        result.save(Path(job["out"]))
        final = result.eval_history[-1] if result.eval_history else {}
        print(f"seed run {number}/{len(runs)}: {run_label(config.runner, config.profile, config.task)} "
              f"seed {config.seed}: "
              f"{time.monotonic() - started:.1f}s, eval loss {final.get('eval_loss', float('nan')):.4f}, "
              + ", ".join(f"{name} {value:.4f}" for name, value in result.metrics.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
