"""Run the guard suite inside one environment and read back its JSON report.

The suite runs in the environment's own interpreter, in a fresh process, with this
process's ``PYTHONPATH`` removed: what is measured is the side's libraries, nothing of the
interpreter that called ``upgrade``. Failing checks are an answer (pytest exit 1); a
session that could not run (usage error, crash, no report) is not, and stops the upgrade
with the log's path.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from pytest_finetune.upgrade.envs import Env
from pytest_finetune.upgrade.progress import Progress
from pytest_finetune.upgrade.specs import UpgradeInputError

# The repository's guard tests, for a source tree that predates ``pytest-finetune check``.
_REPO_GUARD_TESTS = ("test_tokenize_collate.py", "test_padding_properties.py", "test_parity.py",
                     "test_runs_tiny.py", "test_drift.py")


class SuiteError(Exception):
    """The suite did not produce an answer (not: some checks failed)."""


def suite_command(env: Env, profile: str, report: Path, data: str | None) -> tuple[list[str], Path | None]:
    """The command that runs the guard suite with ``--finetune-report``, and its folder."""
    if importlib.util.find_spec("pytest_finetune.guard") is not None:
        return [str(env.python), "-m", "pytest_finetune", "check", "--profile", profile,
                "--report", str(report), *(["--data", data] if data else [])], None
    extra = ["--finetune-data", data] if data else []
    import pytest_finetune

    tree = Path(pytest_finetune.__file__).resolve().parents[1]
    markers = "not full and not gpu and not slow" if profile == "tiny" else profile
    return ([str(env.python), "-m", "pytest", *(f"tests/{name}" for name in _REPO_GUARD_TESTS),
             "-m", markers, "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
             "--finetune-report", str(report), *extra], tree)


def run_suite(env: Env, profile: str, out_dir: Path, progress: Progress, data: str | None = None) -> dict[str, Any]:
    """Run the suite in ``env``; its report as a dict (written to ``out_dir``)."""
    report = out_dir / f"{env.side.label}-report.json"
    log = out_dir / f"{env.side.label}-suite.log"
    for stale in (report, log):
        stale.unlink(missing_ok=True)
    command, cwd = suite_command(env, profile, report, data)
    versions = ", ".join(f"{k} {v}" for k, v in env.versions.items() if k in ("transformers", "torch"))
    status = progress.run(f"[{env.side.label}] guard suite, profile {profile} ({versions})", command, log,
                          env=env.subprocess_env(), cwd=cwd)
    if status == 2 and not report.is_file():  # check's "bad input": e.g. no MRPC where it was told to look
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:]
        raise UpgradeInputError(f"[{env.side.label}] the guard suite refused its input: "
                                f"{tail[0] if tail else 'no output'} (log: {log})")
    if status not in (0, 1) or not report.is_file():
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:] if log.is_file() else []
        raise SuiteError(f"[{env.side.label}] the guard suite did not run to the end (exit {status}): "
                         f"{tail[0] if tail else 'no output'}; see {log}")
    return json.loads(report.read_text(encoding="utf-8"))
