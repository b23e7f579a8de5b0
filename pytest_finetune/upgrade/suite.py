"""Run the guard suite (``pytest-finetune check``) inside one environment, read its report.

The suite runs in the environment's own interpreter, in a fresh process, with this
process's ``PYTHONPATH`` removed: what is measured is the side's libraries, nothing of the
interpreter that called ``upgrade``. Failing checks are an answer (check's exit 1); bad
input (exit 2) is the user's to fix; anything else means the suite could not run, and
stops the upgrade with the log's path.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from pytest_finetune._io import loads_json
from pytest_finetune.config.options import OPTIONS_BY_DEST
from pytest_finetune.upgrade.envs import Env, UpgradeFailed
from pytest_finetune.upgrade.progress import Job, Progress
from pytest_finetune.upgrade.specs import UpgradeInputError


class SuiteError(UpgradeFailed):
    """The suite did not produce an answer (not: some checks failed)."""


def suite_command(env: Env, profile: str, report: Path, options: Mapping[str, Any],
                  extra: Sequence[str] = (), tests: Sequence[str] = (), guard: bool = True) -> list[str]:
    """``pytest-finetune check`` in ``env`` with the JSON report and the session settings;
    ``extra``: pytest arguments (a bisection step selects only the checks it needs);
    ``tests``: the user's own test selection, run after (``guard=False``: instead of) the
    packaged guard suite, from the current folder with their ini, conftest and baselines."""
    command = [str(env.python), "-m", "pytest_finetune", "check", "--profile", profile, "--report", str(report)]
    for dest, value in options.items():
        option = OPTIONS_BY_DEST[dest]
        command += [option.cli] if option.flag else [option.cli, str(value)]
    command += ["--tests", *tests] if tests else []
    command += [] if guard else ["--no-guard"]
    return command + (["--", *extra] if extra else [])


def _last_line(log: Path) -> str:
    lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines() if log.is_file() else []
    return lines[-1] if lines else "no output"


def suite_job(env: Env, profile: str, out_dir: Path, options: Mapping[str, Any] | None = None,
              extra: Sequence[str] = (), tests: Sequence[str] = (), guard: bool = True) -> Job:
    """The suite of ``env`` as a job (its report and log named by the side, stale ones removed)."""
    out_dir = out_dir.resolve()
    report, log = _report_path(env, out_dir), out_dir / f"{env.side.label}-suite.log"
    for stale in (report, log):
        stale.unlink(missing_ok=True)
    versions = ", ".join(f"{k} {v}" for k, v in env.versions.items() if k in ("transformers", "torch"))
    what = "guard suite" if not extra else f"checks {' '.join(extra)}"
    what = ("your tests" if not guard else f"{what} and your tests") if tests else what
    return Job(f"[{env.side.label}] {what}, profile {profile} ({versions})",
               suite_command(env, profile, report, options or {}, extra, tests, guard), log, env.subprocess_env())


def _report_path(env: Env, out_dir: Path) -> Path:
    return out_dir.resolve() / f"{env.side.label}-report.json"


def suite_report(env: Env, out_dir: Path, status: int, log: Path) -> dict[str, Any]:
    """The report a finished suite wrote; bad input (exit 2) or no report stops the command."""
    report = _report_path(env, out_dir)
    if status == 2 and not report.is_file():  # e.g. no MRPC where it was told to look
        raise UpgradeInputError(f"[{env.side.label}] the guard suite refused its input: {_last_line(log)} "
                                f"(log: {log})")
    if status not in (0, 1) or not report.is_file():
        raise SuiteError(f"[{env.side.label}] the guard suite did not run to the end (exit {status}): "
                         f"{_last_line(log)}; see {log}")
    return loads_json(report.read_text(encoding="utf-8"))  # finite numbers only, as every report


def run_suites(envs: Sequence[Env], profile: str, out_dir: Path, progress: Progress,
               options: Mapping[str, Any] | None = None, extra: Sequence[str] = (),
               together: bool = False, tests: Sequence[str] = (), guard: bool = True) -> list[dict[str, Any]]:
    """The suite of each environment, one after the other or (``together``) at the same time;
    their reports in order (with ``tests``, each holds the user's own tests too)."""
    jobs = [suite_job(env, profile, out_dir, options, extra, tests, guard) for env in envs]
    statuses = progress.run_all(jobs) if together else [progress.run(job.label, job.command, job.log, env=job.env)
                                                       for job in jobs]
    return [suite_report(env, out_dir, status, job.log) for env, job, status in zip(envs, jobs, statuses)]


def run_suite(env: Env, profile: str, out_dir: Path, progress: Progress,
              options: Mapping[str, Any] | None = None, extra: Sequence[str] = ()) -> dict[str, Any]:
    """Run the suite in ``env``; its report as a dict (written to ``out_dir``)."""
    return run_suites([env], profile, out_dir, progress, options, extra)[0]
