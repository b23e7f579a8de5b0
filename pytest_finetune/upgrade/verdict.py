"""One verdict from two guard-suite reports: what the upgrade from old to new changed.

Inputs are two ``--finetune-report`` JSON files (one per environment). Nothing here builds
or runs anything, so the rules are unit-tested on synthetic reports:

- a **check** regresses when it was good on old (passed, or xpassed) and on new it fails,
  errors, xfails, skips or is missing; or when it fails or errors on new after anything
  but a failure on old. A good outcome on new after a bad one on old is an improvement;
- a **drift fingerprint** regresses when old's and new's values differ (the tokenizer,
  collator or untrained model changed what the model sees), whatever the stored file says;
- a **metric or loss curve** regresses when it is inside the stored seed band on old and
  below it on new, as ``baselines.compare`` decided in each environment. Moves inside the
  band are noise and only shown;
- a regression that a **known upstream issue** explains is still a regression of the
  upgrade; the verdict names the entry and its link.

Exit code: 0 safe, 1 regression.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

from pytest_finetune.baselines.check import values_match
from pytest_finetune.report.tables import format_table
from pytest_finetune.runs.result import version_changes

GOOD = ("passed", "xpassed")
FAILING = ("failed", "error")
MISSING = "not run"


class KnownIssue(Protocol):
    """What the verdict needs from an entry of the known-issues table
    (``pytest_finetune.compat.known_issues``)."""

    id: str
    package: str
    url: str

    def applies(self, version: str | None = None) -> bool: ...

    def explains(self, nodeid: str) -> bool: ...


@dataclass
class CheckChange:
    check: str
    old: str
    new: str
    kind: str  # "regression", "improvement", "changed"
    old_message: str = ""
    new_message: str = ""
    known_issue: str | None = None


@dataclass
class Drift:
    name: str
    detail: str  # how old and new differ, first differing example first
    old_vs_stored: str  # "matches", "drifted" or "not run"
    new_vs_stored: str


@dataclass
class MetricRow:
    scenario: str
    metric: str
    baseline: float | None
    allowed: str
    old: float | None
    new: float | None
    old_verdict: str  # compare's "ok", "gain", "FAIL", or "not run"
    new_verdict: str
    kind: str  # "regression", "improvement", "below band on both", "gain", "noise", "changed"


@dataclass
class IssueMatch:
    id: str
    url: str
    package: str
    versions: list[str | None]  # the package's version on old and on new
    checks: list[str]  # the checks it explains that failed or xfailed on new
    on_old: bool  # the old version is inside the entry's range
    on_new: bool


@dataclass
class Verdict:
    versions: dict[str, dict[str, str]]  # side -> package -> version
    requirements: dict[str, list[str]]  # side -> the specs it was built from
    checks: list[CheckChange] = field(default_factory=list)
    failing_on_both: list[CheckChange] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    metrics: list[MetricRow] = field(default_factory=list)
    known_issues: list[IssueMatch] = field(default_factory=list)
    unchanged: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[str]:
        found = [f"check {c.check}: {c.old} on old, {c.new} on new"
                 + (f" (known upstream issue {c.known_issue})" if c.known_issue else "")
                 for c in self.checks if c.kind == "regression"]
        found += [f"fingerprint {d.name} drifted" for d in self.drift]
        found += [f"{m.scenario} {m.metric}: {m.old_verdict} on old, {m.new_verdict} on new"
                  for m in self.metrics if m.kind == "regression"]
        return found

    @property
    def exit_code(self) -> int:
        return 1 if self.regressions else 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["verdict"] = "regression" if self.exit_code else "safe"
        data["exit_code"] = self.exit_code
        data["regressions"] = self.regressions
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n"

    # -- rendering: one layout, two syntaxes -------------------------------------------
    def _sections(self) -> list[tuple[str, Sequence[str] | None, list[Sequence[str]] | list[str]]]:
        """(title, header or None for a bullet list, rows) in reading order."""
        packages = sorted(set(self.versions.get("old", {})) | set(self.versions.get("new", {})))
        changed = version_changes(self.versions.get("old", {}), self.versions.get("new", {}))
        version_rows = [[name, self.versions["old"].get(name, "-"), self.versions["new"].get(name, "-"),
                         "changed" if name in changed else ""] for name in packages]
        sections: list[tuple[str, Sequence[str] | None, list]] = [
            ("Versions", ("package", "old", "new", ""), version_rows)]
        if self.requirements:
            sections.append(("Built from", None, [f"{side}: {' '.join(specs)}"
                                                  for side, specs in self.requirements.items()]))
        if self.checks:
            sections.append(("Checks whose outcome changed", ("check", "old", "new", "verdict", "known issue"),
                             [[c.check, c.old, c.new, c.kind, c.known_issue or ""] for c in self.checks]))
            details = [f"{c.check} on new: {_one_line(c.new_message)}" for c in self.checks
                       if c.kind == "regression" and c.new_message]
            if details:
                sections.append(("Why they fail on new", None, details))
        if self.failing_on_both:
            sections.append(("Failing on both sides (not caused by the upgrade)", None,
                             [f"{c.check}: {c.old} / {c.new}: {_one_line(c.new_message)}"
                              for c in self.failing_on_both]))
        if self.drift:
            sections.append(("Fingerprint drift between old and new", ("fingerprint", "old vs stored",
                                                                        "new vs stored", "first difference"),
                             [[d.name, d.old_vs_stored, d.new_vs_stored, d.detail] for d in self.drift]))
        if self.metrics:
            sections.append(("Metrics and loss curves vs the stored seed band",
                             ("scenario", "metric", "baseline", "allowed", "old", "new", "verdict"),
                             [[m.scenario, m.metric, _number(m.baseline), m.allowed, _with_verdict(m.old, m.old_verdict),
                               _with_verdict(m.new, m.new_verdict), m.kind] for m in self.metrics]))
        if self.known_issues:
            sections.append(("Known upstream issues matched", None, [
                f"{i.id} ({i.url}): {i.package} {i.versions[0]} -> {i.versions[1]}; explains "
                f"{', '.join(i.checks)}; "
                f"{'applies on both sides' if i.on_old else 'introduced by the upgrade (applies on new, not on old)'}"
                for i in self.known_issues]))
        if self.notes:
            sections.append(("Notes", None, list(self.notes)))
        return sections

    def headline(self) -> str:
        if not self.exit_code:
            return f"SAFE: no check, fingerprint or metric got worse ({self.unchanged} checks unchanged)"
        return f"REGRESSION: {len(self.regressions)} finding(s): " + "; ".join(self.regressions)

    def text(self) -> str:
        lines = [f"pytest-finetune upgrade: {self.headline()}"]
        for title, header, rows in self._sections():
            lines += ["", f"{title}:"]
            if header is None:
                lines += [f"  - {row}" for row in rows]
            else:
                lines += [f"  {line}".rstrip() for line in format_table(header, rows)]
        return "\n".join(lines) + "\n"

    def markdown(self) -> str:
        word = "regression" if self.exit_code else "safe"
        lines = [f"## pytest-finetune upgrade: {word}", "", f"**{_md(self.headline())}**"]
        for title, header, rows in self._sections():
            lines += ["", f"### {title}", ""]
            if header is None:
                lines += [f"- {_md(row)}" for row in rows]
            else:
                lines.append("| " + " | ".join(_md(h) for h in header) + " |")
                lines.append("|" + " --- |" * len(header))
                links = {issue.id: issue.url for issue in self.known_issues}
                lines += ["| " + " | ".join(f"[{x}]({links[x]})" if x in links else _md(str(x)) for x in row)
                          + " |" for row in rows]
        return "\n".join(lines) + "\n"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _with_verdict(value: float | None, verdict: str) -> str:
    return verdict if value is None else f"{value:.4f} ({verdict})"


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def check_id(nodeid: str) -> str:
    """A test's id without its folder: the same check from two environments (a repo's
    ``tests/`` or each env's site-packages) gets the same id."""
    path, _, rest = nodeid.partition("::")
    return f"{path.rsplit('/', 1)[-1]}::{rest}" if rest else path.rsplit("/", 1)[-1]


def _outcomes(report: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {check_id(nodeid): entry for nodeid, entry in report.get("tests", {}).items()}


def classify(old: str, new: str) -> str | None:
    """"regression", "improvement", "changed", "failing on both" or None (same, fine)."""
    if new in FAILING:
        return "failing on both" if old in FAILING else "regression"
    if old in GOOD:
        return None if new in GOOD else "regression"
    if new in GOOD:
        return "improvement"
    return None if old == new else "changed"


def _check_changes(old: Mapping[str, Any], new: Mapping[str, Any], verdict: Verdict) -> None:
    a, b = _outcomes(old), _outcomes(new)
    for check in sorted(set(a) | set(b)):
        was = a.get(check, {}).get("outcome", MISSING)
        now = b.get(check, {}).get("outcome", MISSING)
        kind = classify(was, now)
        if kind is None:
            verdict.unchanged += 1
            continue
        change = CheckChange(check, was, now, kind, a.get(check, {}).get("message", ""),
                             b.get(check, {}).get("message", ""))
        (verdict.failing_on_both if kind == "failing on both" else verdict.checks).append(change)


def _first_difference(name: str, old: Any, new: Any, example_text: Callable[[int], str] | None) -> str:
    """Where two fingerprint values first differ, as a reader wants it: the example's text."""
    if isinstance(old, dict) and isinstance(new, dict) and "per_example" in old and "per_example" in new:
        if old.get("examples") != new.get("examples"):
            return f"{old.get('examples')} examples on old, {new.get('examples')} on new"
        for index, (x, y) in enumerate(zip(old["per_example"], new["per_example"])):
            if x != y:
                text = ""
                if example_text is not None:
                    try:
                        text = f": {example_text(index)}"
                    except Exception as exc:  # the text is a courtesy; the index is the finding
                        text = f" (text unavailable: {exc})"
                return f"first differing example: validation idx {index}{text}"
        return "per-example hashes equal, split hash differs"
    if isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            return f"{len(old)} entries on old, {len(new)} on new"
        for index, (x, y) in enumerate(zip(old, new)):
            if x != y:
                if isinstance(x, dict) and "shapes" in x and isinstance(y, dict):
                    return f"batch {index} differs: shapes {x.get('shapes')} on old, {y.get('shapes')} on new"
                if isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
                    worst = max((abs(p - q) for p, q in zip(x, y)), default=0.0)
                    return f"row {index} differs: {x} on old, {y} on new (max |diff| {worst:.2e})"
                return f"entry {index} differs: {x!r} on old, {y!r} on new"
    return f"{old!r} on old, {new!r} on new"


def _vs_stored(entry: Mapping[str, Any] | None) -> str:
    if entry is None:
        return MISSING
    return "drifted" if entry.get("drifted") else "matches"


def _drift(old: Mapping[str, Any], new: Mapping[str, Any], verdict: Verdict,
           example_text: Callable[[int], str] | None) -> None:
    a, b = old.get("fingerprints", {}), new.get("fingerprints", {})
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            side = "old" if name not in a else "new"
            verdict.notes.append(f"fingerprint {name} was not computed on {side}")
            continue
        atol = max(float(a[name].get("atol", 0.0)), float(b[name].get("atol", 0.0)))
        if values_match(a[name]["value"], b[name]["value"], atol):
            continue
        verdict.drift.append(Drift(name, _first_difference(name, a[name]["value"], b[name]["value"], example_text),
                                   _vs_stored(a[name]), _vs_stored(b[name])))


def _metric_kind(old: str, new: str) -> str:
    if new == "FAIL":
        return "below band on both" if old == "FAIL" else "regression" if old in ("ok", "gain") else "changed"
    if old == "FAIL":
        return "improvement" if new in ("ok", "gain") else "changed"
    if new == "gain":
        return "gain"
    return "noise" if old == new == "ok" or (old == "gain" and new == "ok") else "changed"


def _rows(report: Mapping[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(row["scenario"], row["metric"]): row
            for comparison in report.get("comparisons", {}).values() for row in comparison.get("rows", [])}


def _metrics(old: Mapping[str, Any], new: Mapping[str, Any], verdict: Verdict) -> None:
    a, b = _rows(old), _rows(new)
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        ref = y or x
        old_verdict = x["verdict"] if x else MISSING
        new_verdict = y["verdict"] if y else MISSING
        verdict.metrics.append(MetricRow(
            key[0], key[1], ref["baseline"], ref.get("allowed", ""), x["now"] if x else None,
            y["now"] if y else None, old_verdict, new_verdict, _metric_kind(old_verdict, new_verdict)))


def _known_issues(new: Mapping[str, Any], verdict: Verdict, issues: Iterable[KnownIssue]) -> None:
    """Entries that apply to new's versions and explain a check that failed or xfailed there.
    An entry that applied on old only is a fix the upgrade brings: a note."""
    failing_on_new = {check_id(nodeid) for nodeid, entry in new.get("tests", {}).items()
                      if entry.get("outcome") in ("failed", "error", "xfailed")}
    listed = {c.check: c for c in verdict.checks + verdict.failing_on_both}
    for issue in issues:
        versions = [verdict.versions[side].get(issue.package) for side in ("old", "new")]
        on_old, on_new = (issue.applies(v) if v else False for v in versions)
        if on_old and not on_new:
            verdict.notes.append(f"known upstream issue {issue.id} ({issue.url}) applies to {issue.package} "
                                 f"{versions[0]} but not to {versions[1]}: the upgrade leaves it behind")
        matched = sorted(check for check in failing_on_new if issue.explains(check))
        if not on_new or not matched:
            continue
        for check in matched:
            if check in listed:
                listed[check].known_issue = issue.id
        verdict.known_issues.append(IssueMatch(issue.id, issue.url, issue.package, versions, matched,
                                               on_old, on_new))


def build_verdict(old: Mapping[str, Any], new: Mapping[str, Any], *,
                  requirements: Mapping[str, Sequence[str]] | None = None,
                  known_issues: Iterable[KnownIssue] = (),
                  example_text: Callable[[int], str] | None = None) -> Verdict:
    """Compare two guard-suite reports (old first). ``example_text(i)`` renders validation
    example ``i`` for a tokenizer drift; ``requirements`` are the specs each side was built from."""
    verdict = Verdict(versions={"old": dict(old.get("versions", {})), "new": dict(new.get("versions", {}))},
                      requirements={side: list(specs) for side, specs in (requirements or {}).items()})
    _check_changes(old, new, verdict)
    _drift(old, new, verdict, example_text)
    _metrics(old, new, verdict)
    _known_issues(new, verdict, known_issues)
    return verdict
