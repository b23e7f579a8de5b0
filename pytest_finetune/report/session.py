"""What the session learned about its runs: terminal table, JSON report, PNG per scenario.

Fed from test reports (their ``user_properties`` and outcomes) so it sees workers' results
under xdist. The JSON report also holds every test's outcome with a one-line message and
the library versions of the session, so that two reports from two environments can be
compared check by check (``pytest-finetune upgrade``) without a second report format.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from pytest_finetune._io import write_json
from pytest_finetune.baselines.outcome import Outcome
from pytest_finetune.baselines.store import stored_baselines
from pytest_finetune.report.events import (ComparisonEvent, FingerprintEvent, KnownIssueEvent, ProgressLineEvent,
                                           ResultEvent, UpdatedEvent, events_in)
from pytest_finetune.report.tables import format_table


class SessionReport:
    def __init__(self) -> None:
        self.results: dict[str, dict[str, Any]] = {}  # scenario -> RunResult dict
        self.comparisons: dict[str, dict[str, Any]] = {}
        self.updated: list[dict[str, Any]] = []
        self.used_files: set[str] = set()
        self.fingerprints: dict[str, dict[str, Any]] = {}
        self.tests: dict[str, dict[str, Any]] = {}  # nodeid -> outcome, message, duration
        self.known_issues: dict[str, dict[str, Any]] = {}  # entry id -> entry, installed, applies, checks run

    def pytest_runtest_logreport(self, report) -> None:
        """A pytest hook: this object is registered as a plugin for the session."""
        if report.when == "call":
            self.add(report.user_properties)
        self._record_outcome(report)

    def _record_outcome(self, report) -> None:
        """One outcome per test: the call's, unless setup or teardown failed or setup skipped."""
        outcome = outcome_of(report)
        if outcome is None:
            return
        entry = self.tests.setdefault(report.nodeid, {"outcome": "passed", "message": "", "duration": 0.0})
        entry["duration"] = round(entry["duration"] + getattr(report, "duration", 0.0), 3)
        if report.when == "teardown" and outcome != "error":
            return
        if report.when == "teardown" and entry["outcome"] in ("failed", "error"):
            return  # keep the first failure's message
        entry["outcome"], entry["message"] = outcome, _message(report)

    def add(self, user_properties) -> None:
        for event in events_in(user_properties):
            if isinstance(event, ProgressLineEvent):
                continue  # printed live (plugin.progress); names no stored file
            if isinstance(event, KnownIssueEvent):
                entry = self.known_issues.setdefault(event.issue["id"], {
                    **event.issue, "installed": event.installed, "applies": event.applies, "checks_run": []})
                entry["checks_run"].append(event.nodeid)
                continue
            if isinstance(event, ResultEvent):
                self.results[event.scenario] = event.result
            elif isinstance(event, ComparisonEvent):
                self.comparisons[event.scenario] = vars(event)
            elif isinstance(event, UpdatedEvent):
                self.updated.append(vars(event))
            elif isinstance(event, FingerprintEvent):
                self.fingerprints[event.name] = {k: v for k, v in vars(event).items() if k != "kind"}
            self.used_files.add(event.file)

    def outcome(self) -> Outcome:
        """The session's outcome in the upgrade verdict's words: ``regression`` when a test
        failed for any reason but a moved same-seed record (or a drifted fingerprint) whose
        seed bands hold, ``changed`` when only such tests failed, else ``safe``."""
        failing = {nodeid for nodeid, test in self.tests.items() if test["outcome"] in ("failed", "error")}
        moved = {c.get("nodeid") for c in self.comparisons.values() if c.get("outcome") == Outcome.CHANGED.value}
        moved |= {f.get("nodeid") for f in self.fingerprints.values() if f.get("drifted")}
        if failing - moved:
            return Outcome.REGRESSION
        return Outcome.CHANGED if failing or any(c.get("outcome") == Outcome.CHANGED.value
                                                 for c in self.comparisons.values()) else Outcome.SAFE

    def table_lines(self) -> list[str]:
        rows = [row for comp in self.comparisons.values() for row in comp["rows"]]
        if not rows:
            return []
        header = ("scenario", "metric", "baseline", "now", "delta", "verdict")
        body = [(r["scenario"], r["metric"], f"{r['baseline']:.4f}", f"{r['now']:.4f}",
                 f"{r['now'] - r['baseline']:+.4f}", r["verdict"]) for r in rows]
        return format_table(header, body)

    def metric_lines(self) -> list[str]:
        """Which GLUE/MRPC metric module computed the runs' accuracy/F1 (``evaluate``'s own
        or the local copy): after an ``evaluate`` upgrade, the first thing to check."""
        sources = sorted({result.get("metric_source") or "not recorded" for result in self.results.values()})
        return [f"metric: {', '.join(sources)}"] if sources else []

    def update_lines(self) -> list[str]:
        lines = []
        for item in self.updated:
            if item["fingerprint"]:
                lines.append(f"wrote {item['file']}: fingerprint {item['fingerprint']}")
                continue
            change = ", ".join(
                f"{m} {'new' if old is None else f'{old:.4f}'} -> {new:.4f}" for m, (old, new) in item["change"].items())
            seeds = ", ".join(str(seed) for seed in item["seeds"])
            lines.append(f"wrote {item['file']} (seeds {seeds}): {change}")
        return lines

    def known_issue_records(self) -> list[dict[str, Any]]:
        """The table's entries that explain a check this session ran: the entry, the installed
        version, whether it applied, and each explained check with its outcome."""
        return [{**seen, "checks_run": [{"nodeid": nodeid, "outcome": self.tests.get(nodeid, {}).get("outcome")}
                                        for nodeid in seen["checks_run"]]}
                for _, seen in sorted(self.known_issues.items())]

    def known_issue_lines(self) -> list[str]:
        """One line per entry that applied (the installed version is inside its range)."""
        lines = []
        for record in self.known_issue_records():
            if not record["applies"]:
                continue
            checks = ", ".join(f"{c['nodeid']} ({c['outcome']})" for c in record["checks_run"])
            lines.append(f"known upstream issue {record['id']}: {record['package']} {record['installed']} "
                         f"(affected {record['affected']}) {record['url']}: {record['title']}; explains {checks}")
        return lines

    def unused_files(self, folder: Path) -> list[str]:
        if not self.used_files or not folder.is_dir():
            return []
        stored = {p.name for p in stored_baselines(folder)}
        return sorted(stored - self.used_files)

    def write(self, path: Path, k: float, root: Path | None = None,
              warn: Callable[[str], None] | None = None) -> list[Path]:
        """The JSON report, and a loss-curve PNG per scenario beside it.

        The JSON first: a picture that cannot be written (a full disk) is passed to ``warn``
        (or raised without it), after the report that holds every verdict is in place.

        Paths inside it (test messages name baseline files) are made relative to ``root``
        (the project folder) and the home folder is written ``~``: a report is shared as a
        CI artifact or a PR comment and must not carry a user name or machine layout.
        """
        from pytest_finetune.report.plots import plot_loss_curves
        from pytest_finetune.runs.result import library_versions

        # The stored record stays out (it is in the baselines folder); its measured noise
        # envelope goes in, so that two reports can be compared with each other, step by
        # step, at the scenario's own noise (``pytest-finetune upgrade``).
        payload = {"results": self.results, "comparisons": {
            name: {**{key: value for key, value in comp.items() if key != "baseline"},
                   "noise": (comp.get("baseline") or {}).get("noise")}
            for name, comp in self.comparisons.items()},
            "fingerprints": self.fingerprints, "tests": self.tests, "versions": library_versions(),
            "known_issues": self.known_issue_records(), "outcome": self.outcome().value}
        written = [write_json(path, without_local_paths(payload, root))]
        for scenario, result in self.results.items():
            baseline = self.comparisons.get(scenario, {}).get("baseline")
            png = path.with_name(f"{path.stem}-{scenario}.png")
            try:
                written.append(plot_loss_curves(png, {f"now (seed {result['config']['seed']})": result["losses"]},
                                                scenario, baseline, k))
            except OSError as exc:
                if warn is None:
                    raise
                warn(f"cannot write the picture {png} ({exc.strerror or exc}); the report holds the verdicts")
        return written


def outcome_of(report) -> str | None:
    """pytest's outcome words for one phase's report, xfail included; None for a passing
    setup or teardown (they say nothing about the test)."""
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    if report.failed:
        return "failed" if report.when == "call" else "error"
    if report.skipped:
        return "skipped"
    return "passed" if report.when == "call" else None


def _message(report) -> str:
    """One line, or a few for a harness failure: what a reader needs to see which way it broke."""
    longrepr = report.longrepr
    if hasattr(report, "wasxfail"):
        # What the check itself said, then the reason it was expected (a known issue's entry):
        # an upgrade verdict or a bisection step shows how the known bug looks at that release.
        crash = getattr(longrepr, "reprcrash", None)
        said = " ".join(crash.message.split()) if crash is not None and crash.message else ""
        return f"{said} (expected: {report.wasxfail})" if said else str(report.wasxfail)
    if longrepr is None:
        return ""
    if isinstance(longrepr, tuple):  # skip: (file, line, reason)
        return str(longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None and crash.message:
        return crash.message
    return str(longrepr).strip()


def without_local_paths(value: Any, root: Path | None = None) -> Any:
    """``value`` with every string's ``<root>/`` removed and the home folder written ``~``."""
    import os

    prefixes = []
    for folder, shown in ((root, ""), (Path.home(), "~" + os.sep)):
        if folder is not None and str(folder) not in ("", os.sep):
            prefixes.append((str(Path(folder).resolve()).rstrip(os.sep) + os.sep, shown))
            prefixes.append((str(folder).rstrip(os.sep) + os.sep, shown))
    prefixes.sort(key=lambda item: -len(item[0]))  # the project inside home: the longer first

    def clean(item: Any) -> Any:
        if isinstance(item, str):
            for prefix, shown in prefixes:
                item = item.replace(prefix, shown)
            return item
        if isinstance(item, dict):
            return {key: clean(val) for key, val in item.items()}
        if isinstance(item, list):
            return [clean(val) for val in item]
        return item

    return clean(value)


_OUTCOME_ORDER = ("safe", "changed", "failing", "regression")


def merge_reports(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """One report of several sessions of one environment (the packaged guard suite and the
    user's own tests): their results, comparisons, fingerprints and tests side by side (node
    ids and scenario names are the sessions' own), the known issues of each once, the worst
    outcome. What ``upgrade``'s verdict reads is then one report per side, as before."""
    merged: dict[str, Any] = {"results": {}, "comparisons": {}, "fingerprints": {}, "tests": {},
                              "versions": {}, "known_issues": [], "outcome": "safe"}
    seen_issues: set[str] = set()
    for report in reports:
        for key in ("results", "comparisons", "fingerprints", "tests"):
            merged[key].update(report.get(key, {}))
        merged["versions"] = merged["versions"] or dict(report.get("versions", {}))
        for issue in report.get("known_issues", []):
            if issue.get("id") not in seen_issues:
                seen_issues.add(issue.get("id"))
                merged["known_issues"].append(issue)
        outcome = report.get("outcome", "safe")
        if outcome in _OUTCOME_ORDER and _OUTCOME_ORDER.index(outcome) > _OUTCOME_ORDER.index(merged["outcome"]):
            merged["outcome"] = outcome
    return merged
