"""The one path every baseline goes through: compare, record what is missing, or update.

Like pytest-regressions' ``perform_regression_check``: each family of stored values (a
scenario's metrics and loss curve; a model's drift fingerprints) supplies how to read,
judge and write its record, and this module decides which of those happens. The pytest
fixture and the CLI both call it, so ``--finetune-update-baselines`` or a missing baseline
means the same thing everywhere. Nothing here imports pytest: callers turn an outcome into
a test failure, a warning or an exit code.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from pytest_finetune._io import file_lock
from pytest_finetune.baselines.compare import Comparison, compare, measure_noise, noise_probes
from pytest_finetune.baselines.scenario import identity_changes, scenario_name, scenario_of
from pytest_finetune.baselines.store import (FORMAT_VERSION, baseline_path, build_baseline, find_baseline,
                                             is_packaged, obtained_path, read_baseline, read_fingerprints,
                                             stored_file, write_baseline)
from pytest_finetune.errors import BaselineError, FinetuneError
from pytest_finetune.runs.config import RunConfig
from pytest_finetune.runs.result import RunResult, library_versions, version_changes

# compare only; also record what is missing; also rewrite what fails; rewrite everything.
COMPARE, RECORD_MISSING, UPDATE_FAILING, UPDATE_ALL = "compare", "record-missing", "update-failing", "update-all"


@dataclass
class CheckOutcome:
    """What happened to one stored value.

    ``status``: ``passed``, ``failed`` (``message`` says why), ``missing`` (nothing stored and
    not asked to record), or ``written`` (recorded or updated; ``written`` says what).
    """

    status: str
    message: str = ""
    comparison: Comparison | None = None
    compared_with: Path | None = None
    record: dict[str, Any] | None = None
    written: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    detail: str | None = None  # fingerprints: the first difference, as text

    @property
    def ok(self) -> bool:
        return self.status in ("passed", "written")


def perform_check(mode: str, load: Callable[[], Any], judge: Callable[[Any], CheckOutcome],
                  write: Callable[[], dict[str, Any] | None]) -> CheckOutcome:
    """Judge the stored value, record a missing one, or rewrite; the policy lives only here.

    Like syrupy's ``--snapshot-update``: an update rewrites only what is missing or fails
    (a passing baseline keeps its seeds and history); ``UPDATE_ALL`` rewrites everything that
    ran. ``load`` returns the stored record or None when there is none (and raises
    BaselineError when it exists but cannot be trusted: a broken file is never silently
    replaced).
    """
    if mode == UPDATE_ALL:
        return CheckOutcome("written", written=write())
    stored = load()
    if stored is None:
        if mode in (RECORD_MISSING, UPDATE_FAILING):
            return CheckOutcome("written", written=write())
        return CheckOutcome("missing")
    outcome = judge(stored)
    if outcome.status == "failed" and mode == UPDATE_FAILING:
        outcome.status, outcome.written = "written", write()
    return outcome


def stored_baseline(folder: Path, scenario: dict[str, str]) -> tuple[Path | None, str | None, dict[str, Any] | None]:
    """The baseline a run of ``scenario`` will be judged against: (file, note, validated record).

    ``(None, None, None)`` when there is none; BaselineError when the file cannot be trusted.
    The CLI calls this before training too, so a broken baseline costs seconds, not a run.
    """
    where, note = find_baseline(folder, scenario)
    if where is None:
        return None, None, None
    return where, note, read_baseline(where, scenario if note is None else None)


def check_run(result: RunResult, folder: Path, k: float, mode: str = COMPARE,
              more_runs: Callable[[Sequence[RunConfig]], list[RunResult]] | None = None, seeds: int = 1,
              writer_id: str | None = None) -> CheckOutcome:
    """Judge a run against its scenario's baseline in ``folder`` (or write that baseline).

    The baseline is looked up in ``folder`` first and in the packaged defaults second;
    everything written goes to ``folder`` (never into the installed package). In update
    mode ``seeds`` runs make the record: ``result`` and ``more_runs`` of the following
    seeds; ``more_runs`` also trains the noise probes (``compare.noise_probes``) whose
    envelope the paired same-seed check needs (without it none is stored). On a failure the
    new result is written to ``folder`` as ``*.obtained.json`` (accepting it is a file move
    a reviewer can see); a pass removes a stale one. ``writer_id`` marks records so that
    xdist workers of one session write once.
    """
    scenario = scenario_of(result.config, result.device)
    name = scenario_name(scenario)
    path = baseline_path(folder, scenario)
    found: dict[str, Any] = {}

    def load() -> dict[str, Any] | None:
        where, note, record = stored_baseline(folder, scenario)
        found.update(path=where, note=note)
        return record

    def judge(record: dict[str, Any]) -> CheckOutcome:
        comparison = compare(result, record, name, k=k)
        comparison.failures[:0] = identity_changes(record["scenario"], scenario)
        comparison.notes += data_changes(record, result)
        if found["note"]:
            comparison.notes.append(found["note"])
        where = found["path"]
        if comparison.passed:
            _remove_obtained(path)
            return CheckOutcome("passed", comparison=comparison, compared_with=where, record=record,
                                notes=comparison.notes)
        origin = " (a packaged default: your baselines folder has no file for it)" if is_packaged(where) else ""
        try:
            obtained = obtained_path(path)
            write_baseline(obtained, build_baseline([result], scenario, k))
            kept = f"\n  the new result is in {obtained}; to accept it: mv {obtained} {path}"
        except FinetuneError as exc:  # a read-only folder: the verdict stands, said first
            kept = f"\n  the new result could not be kept: {exc}"
        message = comparison.message(str(where)) + origin + kept
        return CheckOutcome("failed", message=message, comparison=comparison, compared_with=where,
                            record=record, notes=comparison.notes)

    def write() -> dict[str, Any] | None:
        others = [result.config.replace(seed=result.config.seed + i) for i in range(1, seeds)]
        runs = [result] + (more_runs(others) if more_runs and others else [])
        noise = measure_noise(result, more_runs(noise_probes(result.config))) \
            if more_runs and result.device == "cpu" else None
        record = build_baseline(runs, scenario, k, noise=noise)
        record["updated_by_run"] = writer_id
        with file_lock(folder):
            old, previous = None, stored_file(folder, path.name)
            if previous is not None:
                with contextlib.suppress(BaselineError):
                    old = read_baseline(previous)
            if writer_id and old is not None and old.get("updated_by_run") == writer_id:
                return None  # another xdist worker of this same session wrote it already
            write_baseline(path, record)
        _remove_obtained(path)
        change = {m: [old["metrics"][m]["mean"] if old else None, record["metrics"][m]["mean"]]
                  for m in record["metrics"]}
        return {"scenario": name, "file": path.name, "change": change, "seeds": record["seeds"]}

    outcome = perform_check(mode, load, judge, write)
    if outcome.status == "missing":
        outcome.message = f"no baseline for scenario {name} (expected {path})"
    return outcome


def _remove_obtained(path: Path) -> None:
    """A stale ``*.obtained.json`` of ``path`` goes once the baseline passes or is rewritten;
    a temp folder that cannot be used holds none to remove."""
    with contextlib.suppress(FileNotFoundError, FinetuneError):
        obtained_path(path).unlink()


def data_changes(record: dict[str, Any], result: RunResult) -> list[str]:
    """A note when the run read other data than the baseline's (its kind and content hash)."""
    old, new = (record.get("config") or {}).get("data"), result.data_source
    if old and new and old != new:
        return [f"the data differs from the baseline's ({old} -> {new}): rows added, removed or edited "
                "move the curve from step 1"]
    return []


def fingerprint_path(folder: Path, model: str, task: str = "mrpc") -> Path:
    """All drift fingerprints of one task and model share a file, updated key by key."""
    return Path(folder) / f"{task}-{model}-fingerprints.json"


def check_fingerprint(folder: Path, model: str, name: str, current: Any, mode: str = COMPARE,
                      explain: Callable[[Any, Any], str] | None = None, atol: float = 0.0,
                      task: str = "mrpc") -> CheckOutcome:
    """Compare ``current`` with the stored fingerprint ``name`` of ``model`` (or write it).

    The model's file is read from ``folder`` if it has one, else from the packaged
    defaults; a write goes to ``folder``, starting from the file that was read, so the
    user's copy keeps the fingerprints it did not update.
    """
    path = fingerprint_path(folder, model, task)
    source = stored_file(folder, path.name)

    def load() -> dict[str, Any] | None:
        stored = read_fingerprints(source) if source is not None else {}
        return stored if name in stored else None

    def judge(stored: dict[str, Any]) -> CheckOutcome:
        if values_match(stored[name], current, atol):
            return CheckOutcome("passed", compared_with=source)
        detail = explain(stored[name], current) if explain else f"stored {stored[name]!r}, now {current!r}"
        changed = version_changes(stored.get("versions", {}), library_versions())
        versions = ", ".join(f"{k} {o} -> {n}" for k, (o, n) in changed.items()) or "none"
        return CheckOutcome("failed", compared_with=source, detail=detail, message=(
            f"{name} drifted from {source}: {detail}\n  library versions that differ: {versions}"))

    def write() -> dict[str, Any]:
        with file_lock(path.parent):
            latest = stored_file(folder, path.name)  # again: another worker may have written it
            fresh = read_fingerprints(latest) if latest is not None else {"format_version": FORMAT_VERSION}
            fresh[name] = current
            fresh["versions"] = library_versions()
            write_baseline(path, fresh)
        return {"file": path.name, "fingerprint": name}

    outcome = perform_check(mode, load, judge, write)
    if outcome.status == "missing":
        outcome.message = f"no stored fingerprint {name!r} in {path}"
    return outcome


def values_match(old: Any, new: Any, atol: float = 0.0) -> bool:
    """Equal JSON-like values, floats within ``atol``: how a drift fingerprint is compared,
    with the stored file here and between two environments' reports in ``upgrade``."""
    if isinstance(old, float) or isinstance(new, float):
        return isinstance(old, (int, float)) and isinstance(new, (int, float)) and abs(old - new) <= atol
    if isinstance(old, list) and isinstance(new, list):
        return len(old) == len(new) and all(values_match(a, b, atol) for a, b in zip(old, new))
    if isinstance(old, dict) and isinstance(new, dict):
        return old.keys() == new.keys() and all(values_match(old[k], new[k], atol) for k in old)
    return old == new


def changed_keys(old: dict[str, Any], new: dict[str, Any], first: str = "stored", second: str = "now") -> str:
    """Which entries of two fingerprint objects differ, each as ``key: A (first), B (second)``:
    what ``AutoTokenizer`` resolved differently reads ``class: 'BertTokenizerFast' (stored),
    'BertTokenizer' (now)``, not as two whole objects."""
    keys = [key for key in dict.fromkeys([*old, *new]) if old.get(key) != new.get(key)]
    return "; ".join(f"{key}: {old.get(key)!r} ({first}), {new.get(key)!r} ({second})" for key in keys) or "equal"


def mode_of(update: str, record_missing: bool) -> str:
    """The check mode from the user's switches (``update``: "", "failing" or "all"; update wins)."""
    if update == "all":
        return UPDATE_ALL
    if update:
        return UPDATE_FAILING
    return RECORD_MISSING if record_missing else COMPARE
