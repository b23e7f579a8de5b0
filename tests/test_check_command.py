"""``pytest-finetune check`` as a user runs it: the installed command, from a project folder
that is not this repo, with the packaged guard suite and the packaged baselines.

The folder is hostile on purpose: its pytest.ini adds an option pytest does not know and
its conftest.py raises on import, so a check that read either would stop at once.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_finetune.baselines.store import PACKAGED_BASELINES
from pytest_finetune.plugin.availability import require_data

pytestmark = pytest.mark.slow  # each test starts the command in a subprocess

FINGERPRINTS = "mrpc-all-MiniLM-L6-v2-fingerprints.json"
# Drift and course-tokenization checks: the packaged fingerprints, no training (seconds).
QUICK = ["--", "-k", "drift or tokenization", "-p", "no:randomly"]


def _command() -> list[str]:
    script = Path(sys.executable).with_name("pytest-finetune")
    assert script.is_file(), f"the console script is not installed beside {sys.executable}"
    return [str(script), "check"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --no-such-option-here\n")
    (tmp_path / "conftest.py").write_text("raise RuntimeError('the user conftest was imported')\n")
    return tmp_path


def _check(project: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    return subprocess.run(_command() + list(args), cwd=project, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _packaged_digest() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in PACKAGED_BASELINES.iterdir()}


def test_check_passes_with_the_packaged_suite_and_baselines(finetune_settings, project):
    data = require_data(finetune_settings.data)
    before = _packaged_digest()
    done = _check(project, "--finetune-data", data, "--report", "out/report.json", *QUICK)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "pytest-finetune check (profile tiny): ok, exit 0" in done.stdout
    report = json.loads((project / "out/report.json").read_text())
    outcomes = {nodeid: entry["outcome"] for nodeid, entry in report["tests"].items()}
    assert outcomes["pytest_finetune/guard/test_drift.py::test_untrained_model_logits_unchanged"] == "passed"
    assert outcomes["pytest_finetune/guard/test_causal_lm.py::test_causal_lm_inputs_did_not_drift"] == "passed"
    assert len(outcomes) == 8 and set(outcomes.values()) == {"passed"}  # MRPC's drift and tokenization, the LM's drift
    assert sorted(p.name for p in project.iterdir()) == ["conftest.py", "out", "pytest.ini"]
    assert _packaged_digest() == before


def test_drift_from_the_users_fingerprints_exits_1_and_names_their_file(finetune_settings, project):
    data = require_data(finetune_settings.data)
    mine = json.loads((PACKAGED_BASELINES / FINGERPRINTS).read_text())
    mine["initial_logits"][0][0] += 1.0
    (project / "my-baselines").mkdir()
    (project / "my-baselines" / FINGERPRINTS).write_text(json.dumps(mine))
    done = _check(project, "--data", data, "--baselines", "my-baselines", *QUICK)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"initial_logits drifted from {project / 'my-baselines' / FINGERPRINTS}" in done.stdout
    # the guard's correctness checks hold: what the model sees moved, which is a change to look at
    assert "pytest-finetune check (profile tiny): CHANGED (a same-seed run or a drift fingerprint moved" in done.stdout
    assert done.stdout.rstrip().endswith("exit 1")


def test_a_missing_data_folder_is_one_line_and_exit_2(project):
    done = _check(project, "--finetune-data", str(project / "no-mrpc-here"), timeout=300)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("pytest-finetune: --finetune-data") and \
        f"MRPC folder {project / 'no-mrpc-here'} does not exist" in line, line
