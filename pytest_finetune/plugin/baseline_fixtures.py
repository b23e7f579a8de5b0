"""The ``finetune_baseline`` fixture: compare a run with its stored baseline, or update it.

Results and verdicts travel to the terminal summary and the JSON report through each
test's ``user_properties``, which pytest-xdist carries from workers to the controller.
"""
from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Any

import pytest

from pytest_finetune.baselines.store import (FORMAT_VERSION, baseline_path, read_json_object, build_baseline, find_baseline, obtained_path,
                             read_baseline, write_baseline)
from pytest_finetune.baselines.compare import Comparison, compare
from pytest_finetune.errors import BaselineError
from pytest_finetune.plugin.run_fixtures import get_run
from pytest_finetune.runs.result import RunResult, library_versions, version_changes
from pytest_finetune.baselines.scenario import scenario_name, scenario_of
from pytest_finetune.config.settings import FinetuneSettings
from pytest_finetune.plugin.stash import run_id_of

PROPERTY = "finetune"


@contextlib.contextmanager
def _folder_lock(folder: Path):
    """Serialize writers (xdist workers) of one baselines folder."""
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class BaselineChecker:
    def __init__(self, request: pytest.FixtureRequest, settings: FinetuneSettings) -> None:
        self.request = request
        self.settings = settings

    def _emit(self, kind: str, payload: dict[str, Any]) -> None:
        self.request.node.user_properties.append((PROPERTY, {"kind": kind, **payload}))

    def check(self, result: RunResult) -> Comparison | None:
        """Fail if ``result`` is below its baseline; in update mode, (re)write the baseline."""
        scenario = scenario_of(result.config, result.device)
        name = scenario_name(scenario)
        folder = self.settings.baselines
        path = baseline_path(folder, scenario)
        self._emit("result", {"scenario": name, "result": result.to_dict(), "file": path.name})
        if self.settings.update_baselines:
            seeds = [result.config.seed + i for i in range(self.settings.seeds)]
            runs = [result] + [get_run(self.request.config, self.settings, result.config.replace(seed=s))
                               for s in seeds[1:]]
            self._write(path, build_baseline(runs, scenario, self.settings.tolerance_k), name)
            return None
        found, note = find_baseline(folder, scenario)
        if found is None:
            if self.settings.record_missing:
                self._write(path, build_baseline([result], scenario, self.settings.tolerance_k), name)
                return None
            pytest.fail(f"no baseline for scenario {name} (expected {path}); create it with:\n"
                        f"  pytest '{self.request.node.nodeid}' --finetune-update-baselines "
                        f"--finetune-seeds 3", pytrace=False)
        self._emit("used", {"file": found.name})
        try:
            record = read_baseline(found, scenario if note is None else None)
        except BaselineError as exc:
            pytest.fail(str(exc), pytrace=False)
        comparison = compare(result, record, name, k=self.settings.tolerance_k)
        if note:
            comparison.notes.append(note)
        self._emit("comparison", {"scenario": name, "file": found.name, "passed": comparison.passed,
                                  "rows": [vars(row) for row in comparison.rows],
                                  "baseline": record})
        for text in comparison.notes:
            warnings.warn(f"{name}: {text}", stacklevel=2)
        if not comparison.passed:
            obtained = obtained_path(found)
            write_baseline(obtained, build_baseline([result], scenario, self.settings.tolerance_k))
            pytest.fail(comparison.message(str(found)) +
                        f"\n  the new result is in {obtained}; to accept it: mv {obtained} {found}",
                        pytrace=False)
        return comparison

    def check_fingerprint(self, model: str, name: str, current: Any, explain=None,
                          atol: float = 0.0) -> None:
        """Compare ``current`` with the stored fingerprint ``name`` of this model's drift file.

        All drift fingerprints of one model share a file, updated key by key under the lock.
        """
        path = self.settings.baselines / f"mrpc-{model}-fingerprints.json"
        self._emit("used", {"file": path.name})
        stored: dict[str, Any] = {}
        if path.is_file():
            try:
                stored = read_json_object(path)
            except BaselineError as exc:
                pytest.fail(str(exc), pytrace=False)
        if self.settings.update_baselines or (name not in stored and self.settings.record_missing):
            with _folder_lock(path.parent):
                fresh = read_json_object(path) if path.is_file() else {"format_version": FORMAT_VERSION}
                fresh[name] = current
                fresh["versions"] = library_versions()
                write_baseline(path, fresh)
            self._emit("updated", {"file": path.name, "fingerprint": name})
            return
        if name not in stored:
            pytest.fail(f"no stored fingerprint {name!r} in {path}; create it with:\n  pytest "
                        f"'{self.request.node.nodeid}' --finetune-update-baselines", pytrace=False)
        drifted = not _same(stored[name], current, atol)
        detail = None
        if drifted:
            detail = explain(stored[name], current) if explain else f"stored {stored[name]!r}, now {current!r}"
        # The value itself goes to the report: two environments' reports can then be
        # compared with each other, not only each with the stored file.
        self._emit("fingerprint", {"name": name, "file": path.name, "value": current, "atol": atol,
                                   "drifted": drifted, "detail": detail})
        if drifted:
            changed = version_changes(stored.get("versions", {}), library_versions())
            versions = ", ".join(f"{k} {o} -> {n}" for k, (o, n) in changed.items()) or "none"
            pytest.fail(f"{name} drifted from {path.name}: {detail}\n  library versions that "
                        f"differ: {versions}", pytrace=False)

    def _write(self, path: Path, record: dict[str, Any], name: str) -> None:
        run_id = run_id_of(self.request.config)
        record["updated_by_run"] = run_id
        with _folder_lock(path.parent):
            old = None
            if path.is_file():
                with contextlib.suppress(BaselineError):
                    old = read_baseline(path)
            if old is not None and old.get("updated_by_run") == run_id:
                return  # another worker of this same session wrote this scenario already
            write_baseline(path, record)
        change = {m: [old["metrics"][m]["mean"] if old else None, record["metrics"][m]["mean"]]
                  for m in record["metrics"]}
        self._emit("updated", {"scenario": name, "file": path.name, "change": change,
                               "seeds": record["seeds"]})


def _same(old: Any, new: Any, atol: float) -> bool:
    if isinstance(old, float) or isinstance(new, float):
        return isinstance(old, (int, float)) and isinstance(new, (int, float)) and abs(old - new) <= atol
    if isinstance(old, list) and isinstance(new, list):
        return len(old) == len(new) and all(_same(a, b, atol) for a, b in zip(old, new))
    if isinstance(old, dict) and isinstance(new, dict):
        return old.keys() == new.keys() and all(_same(old[k], new[k], atol) for k in old)
    return old == new


@pytest.fixture
def finetune_baseline(request: pytest.FixtureRequest, finetune_config: FinetuneSettings) -> BaselineChecker:
    """``finetune_baseline.check(result)``: compare with the stored baseline (or update it
    under ``--finetune-update-baselines``); failures show baseline vs now vs allowed."""
    return BaselineChecker(request, finetune_config)
