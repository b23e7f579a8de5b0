"""``pytest-finetune bisect``: the first release that shows each finding of an upgrade.

``upgrade`` says *that* moving from the old pins to the new ones broke or changed
something; this says *which release* did it, with the same statistics as the verdict, so a
noisy training check decides "moved / did not move" without flakiness:

1. **Findings.** The upgrade itself runs first (its environments, suites and seeds are
   cached, so a bisection after an upgrade rebuilds nothing): each correctness check that
   regressed, each runner whose same-seed run moved (CHANGED, or REGRESSION when its seeds
   were worse) and each drift fingerprint that differs is one finding, with the checks
   that show it.
2. **Which package.** When several packages changed, each is moved alone to its new pin
   (the others held at their old pins); the package whose move shows the finding is the one
   to bisect. When no single move does, pairs are tried (the finding then needs both, and
   the first package is bisected with the second held at its new pin).
3. **Which release.** The package's releases between the two pins, from the package index
   the installer uses (``pip index versions``: yanked releases left out, pre-releases only
   with ``--pre``), are searched by halving: at each step one environment (cached like the
   upgrade's) runs only the checks the findings concern, and each finding is judged against
   the old side's outcome: a check's outcome (known-issue xfails included), the same-seed
   run step by step at the measured noise (``compare_sides``), a fingerprint's value. A
   release that cannot be installed beside the held pins is skipped with a line saying why.

Bad input (a range that is not two exact pins, old newer than new, a ``--package`` that did
not change, an index that cannot be read) is one line and exit 2 before anything is built.
Exit codes as ``upgrade``'s: 1 when a finding is a regression, 0 for changes only (4 with
``--fail-on-change``) and when no release in the range changes any check.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TextIO

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pytest_finetune.baselines.check import values_match
from pytest_finetune.baselines.compare import compare_sides
from pytest_finetune.baselines.outcome import Outcome
from pytest_finetune.report.tables import format_table
from pytest_finetune.runs.result import RunResult
from pytest_finetune.upgrade.envs import Env, IndexSettings
from pytest_finetune.upgrade.progress import Progress
from pytest_finetune.upgrade.specs import Side, UpgradeInputError
from pytest_finetune.upgrade.verdict import CHANGED_EXIT, Verdict, check_id, classify

# Where each package's release notes live (the tag of version v); others: their PyPI page.
RELEASE_NOTES = {
    "transformers": "https://github.com/huggingface/transformers/releases/tag/v{v}",
    "accelerate": "https://github.com/huggingface/accelerate/releases/tag/v{v}",
    "datasets": "https://github.com/huggingface/datasets/releases/tag/{v}",
    "tokenizers": "https://github.com/huggingface/tokenizers/releases/tag/v{v}",
    "evaluate": "https://github.com/huggingface/evaluate/releases/tag/v{v}",
    "torch": "https://github.com/pytorch/pytorch/releases/tag/v{v}",
}
NOTHING = "no release in the range changes any check"


def release_notes(package: str, version: str) -> str:
    template = RELEASE_NOTES.get(canonicalize_name(package))
    return template.format(v=version) if template else f"https://pypi.org/project/{package}/{version}/"


# -- the range --------------------------------------------------------------------------
@dataclass(frozen=True)
class Change:
    """One package whose exact pin differs between the sides."""

    package: str
    old: Version
    new: Version
    old_line: str  # the requirement lines as the sides have them
    new_line: str


def _exact_pin(line: str) -> Version | None:
    requirement = Requirement(line)
    pins = [spec.version for spec in requirement.specifier if spec.operator in ("==", "===")]
    if len(pins) != 1 or len(requirement.specifier) != 1 or "*" in pins[0]:
        return None
    try:
        return Version(pins[0])
    except InvalidVersion:
        return None


def changes_between(old: Side, new: Side, only: str | None = None) -> list[Change]:
    """The packages pinned differently on the two sides, each an exact pin on both; a range
    (``>=``), a package on one side only or a ``--package`` that did not change is bad input."""
    a = {canonicalize_name(Requirement(line).name): line for line in old.requirements}
    b = {canonicalize_name(Requirement(line).name): line for line in new.requirements}
    found = []
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            side = "--old" if name not in a else "--new"
            raise UpgradeInputError(f"{side}: {name} is not named; bisect needs each package that moves pinned "
                                    f"on both sides (e.g. --old {name}==X --new {name}==Y)")
        if a[name] == b[name]:
            continue
        pins = _exact_pin(a[name]), _exact_pin(b[name])
        for option, line, pin in (("--old", a[name], pins[0]), ("--new", b[name], pins[1])):
            if pin is None:
                raise UpgradeInputError(f"{option}: {line} is not one exact version; bisect searches between two "
                                        f"pins, e.g. {name}==X")
        if pins[0] >= pins[1]:
            raise UpgradeInputError(f"{name}: the old pin {pins[0]} is not older than the new pin {pins[1]}; "
                                    "bisect searches forward in time (swap --old and --new)")
        found.append(Change(name, pins[0], pins[1], a[name], b[name]))
    if only is not None:
        wanted = canonicalize_name(only)
        if wanted not in {c.package for c in found}:
            moved = ", ".join(c.package for c in found) or "none"
            raise UpgradeInputError(f"--package: {only} does not change between --old and --new "
                                    f"(packages that change: {moved})")
        found = [c for c in found if c.package == wanted]
    if not found:
        raise UpgradeInputError("--old and --new pin every package alike: the range is empty")
    return found


def released_versions(package: str, sources: IndexSettings, pre: bool = False,
                      runner: Callable[[list[str]], Any] | None = None) -> list[Version]:
    """Every release of ``package`` the index offers (``pip index versions``, which reads
    pip's own configuration plus ``sources``), oldest first. Unreachable index: bad input."""
    import subprocess

    command = [sys.executable, "-m", "pip", "index", "versions", package, "--json", "--disable-pip-version-check",
               *sources.pip_args(), *(["--pre"] if pre else [])]
    run = runner or (lambda cmd: subprocess.run(cmd, capture_output=True, text=True, timeout=120))
    done = run(command)
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout or "").strip().splitlines() if line.strip()]
        why = lines[-1].removeprefix("ERROR: ") if lines else f"exit {done.returncode}"
        raise UpgradeInputError(f"cannot list the releases of {package} from the package index: {why}")
    versions = [Version(v) for v in json.loads(done.stdout).get("versions", [])]
    return sorted(v for v in versions if pre or not v.is_prerelease)


def between(versions: Sequence[Version], change: Change) -> list[Version]:
    """The releases after the old pin up to the new one, the new pin always last (it may be a
    build the index does not list)."""
    inside = [v for v in versions if change.old < v < change.new]
    return inside + [change.new]


# -- findings -------------------------------------------------------------------------------
@dataclass
class Finding:
    """What the upgrade found, and how a bisection step decides whether it shows."""

    kind: str  # "check", "run" or "fingerprint"
    key: str  # the check id, the scenario or the fingerprint's name
    label: str  # "regression" or "changed" (Outcome values), as the upgrade verdict judged it
    summary: str  # what the new side shows
    checks: list[str]  # the check ids whose run shows it
    first_bad: str | None = None  # "transformers 5.0.0", once found
    last_good: str | None = None
    package: str | None = None
    detail: str = ""  # what the first bad release shows
    notes: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)

    def line(self) -> str:
        head = f"{self.label.upper()} {self.key}"
        if self.first_bad is None:
            return f"{head}: not located ({'; '.join(self.notes) or 'no step showed it'})"
        detail = f" — {self.detail}" if self.detail else ""
        return f"first bad: {self.first_bad} (last good {self.last_good}): {self.key}{detail}"


def findings_of(verdict: Verdict, reports: Sequence[Mapping[str, Any]]) -> list[Finding]:
    """One finding per regressed correctness check, moved same-seed run and drifted fingerprint."""
    found = []
    for change in verdict.checks:
        if change.kind != "regression":
            continue
        issue = f" (known upstream issue {change.known_issue})" if change.known_issue else ""
        found.append(Finding("check", change.check, Outcome.REGRESSION.value,
                             f"{change.old} on old, {change.new} on new{issue}", [change.check]))
    quality = {q.key: q for q in verdict.quality}
    judged_by = _record_checks(reports)
    for move in verdict.moves:
        if move.moved:
            seeds = quality.get(move.key)
            label = Outcome.REGRESSION if seeds is not None and seeds.worse else Outcome.CHANGED
            found.append(Finding("run", move.scenario, label.value,
                                 move.summary() + (f"; seeds: {seeds.summary()}" if seeds is not None else ""),
                                 judged_by.get(move.scenario, [])))
    for drift in verdict.drift:
        found.append(Finding("fingerprint", drift.name, Outcome.CHANGED.value, drift.detail,
                             judged_by.get(f"fingerprint:{drift.name}", [])))
    return found


def _record_checks(reports: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Scenario (or ``fingerprint:<name>``) -> the check ids that judged it."""
    out: dict[str, list[str]] = {}
    for report in reports:
        for scenario, entry in report.get("comparisons", {}).items():
            if entry.get("nodeid"):
                out.setdefault(scenario, []).append(check_id(entry["nodeid"]))
        for name, entry in report.get("fingerprints", {}).items():
            if entry.get("nodeid"):
                out.setdefault(f"fingerprint:{name}", []).append(check_id(entry["nodeid"]))
    return {key: sorted(set(ids)) for key, ids in out.items()}


def selection(checks: Sequence[str]) -> str:
    """A pytest ``-k`` expression that selects exactly these check ids (``file::name[param]``)."""
    terms = []
    for check in sorted(set(checks)):
        name = check.split("::", 1)[-1]
        base, _, param = name.partition("[")
        terms.append(f"({base} and {param.rstrip(']')})" if param else base)
    return " or ".join(terms)


def shows(finding: Finding, old: Mapping[str, Any], step: Mapping[str, Any]) -> tuple[bool, str]:
    """(whether the step's report shows ``finding``, what it shows), judged against the old
    side's report with the verdict's own rules."""
    if finding.kind == "check":
        was = _outcome(old, finding.key)
        now = _outcome(step, finding.key)
        message = _message(step, finding.key)
        return classify(was, now) == "regression", f"{was} -> {now}" + (f": {message}" if message else "")
    if finding.kind == "run":
        before, after = old.get("results", {}).get(finding.key), step.get("results", {}).get(finding.key)
        if after is None:
            return True, "no run (it did not train)"
        noise = (step.get("comparisons", {}).get(finding.key) or {}).get("noise") or \
            (old.get("comparisons", {}).get(finding.key) or {}).get("noise")
        comparison = compare_sides(RunResult.from_dict(before), RunResult.from_dict(after), noise, finding.key)
        return bool(comparison.failures), (comparison.failures[0] if comparison.failures else "same as old")
    before = (old.get("fingerprints", {}).get(finding.key) or {})
    after = (step.get("fingerprints", {}).get(finding.key) or {})
    if not after:
        return True, "not computed"
    atol = max(float(before.get("atol", 0.0)), float(after.get("atol", 0.0)))
    same = values_match(before.get("value"), after.get("value"), atol)
    return not same, "same as old" if same else "differs from old"


def _outcome(report: Mapping[str, Any], check: str) -> str:
    for nodeid, entry in report.get("tests", {}).items():
        if check_id(nodeid) == check:
            return entry.get("outcome", "not run")
    return "not run"


def _message(report: Mapping[str, Any], check: str) -> str:
    for nodeid, entry in report.get("tests", {}).items():
        if check_id(nodeid) == check:
            text = " ".join(str(entry.get("message", "")).split())
            return text if len(text) <= 200 else text[:197] + "..."
    return ""


# -- steps ----------------------------------------------------------------------------------
@dataclass
class Step:
    number: int
    requirements: list[str]
    moved: str  # e.g. "transformers 5.12.1" (what differs from the old side)
    seconds: float
    verdicts: dict[str, str]  # finding key -> "bad: ..." / "good: ..." / "skipped: why"
    reused: bool = False


StepRunner = Callable[[Side, Sequence[str]], Mapping[str, Any]]  # a side, check ids -> its report


class Bisection:
    """Runs the steps (each a side with some pins moved), caching their reports by requirements."""

    def __init__(self, old: Side, old_report: Mapping[str, Any], run_step: StepRunner, progress: Progress) -> None:
        self.old, self.old_report, self.run_step, self.progress = old, old_report, run_step, progress
        self.reports: dict[tuple[str, ...], Mapping[str, Any] | str] = {}  # str: why it could not run
        self.steps: list[Step] = []

    def side_with(self, moves: Mapping[str, str]) -> Side:
        """The old side with each package of ``moves`` at the requirement line given."""
        lines = [moves.get(canonicalize_name(Requirement(line).name), line) for line in self.old.requirements]
        number = len(self.steps) + 1
        return Side(f"step-{number}", tuple(sorted(lines, key=str.lower)))

    def probe(self, moves: Mapping[str, str], findings: Sequence[Finding]) -> dict[str, tuple[bool, str]] | str:
        """Judge ``findings`` on the old side with ``moves`` applied: {key: (shows, detail)},
        or the reason the step could not be installed."""
        side = self.side_with(moves)
        key = side.requirements
        moved = ", ".join(f"{Requirement(line).name} {str(Requirement(line).specifier).lstrip('=')}"
                          for line in moves.values())
        started = time.monotonic()
        reused = key in self.reports
        if not reused:
            checks = sorted({c for f in findings for c in f.checks})
            try:
                self.reports[key] = self.run_step(side, checks)
            except UpgradeInputError as exc:  # this release cannot be installed beside the held pins
                self.reports[key] = "cannot be installed beside the held pins: " + \
                    str(exc).split(": cannot be installed: ", 1)[-1]
        report = self.reports[key]
        seconds = time.monotonic() - started
        if isinstance(report, str):
            verdicts = {f.key: f"skipped: {report}" for f in findings}
            self.steps.append(Step(len(self.steps) + 1, list(key), moved, seconds, verdicts, reused))
            self.progress.say(f"step {len(self.steps)}: {moved}: skipped, {report}")
            return report
        judged = {f.key: shows(f, self.old_report, report) for f in findings}
        verdicts = {k: f"{'bad' if bad else 'good'}: {detail}" for k, (bad, detail) in judged.items()}
        self.steps.append(Step(len(self.steps) + 1, list(key), moved, seconds, verdicts, reused))
        summary = "; ".join(f"{k}: {'bad' if bad else 'good'}" for k, (bad, _) in judged.items())
        self.progress.say(f"step {len(self.steps)}: {moved}: {summary} ({seconds:.0f}s{', reused' if reused else ''})")
        return judged

    def attribute(self, findings: Sequence[Finding], changes: Sequence[Change]) -> dict[str, tuple[Change, ...]]:
        """Finding key -> the package change(s) that show it when moved alone (or as a pair)."""
        if len(changes) == 1:
            return {f.key: (changes[0],) for f in findings}
        found: dict[str, tuple[Change, ...]] = {}
        for change in changes:
            judged = self.probe({change.package: change.new_line}, findings)
            if isinstance(judged, dict):
                for f in findings:
                    if judged[f.key][0] and f.key not in found:
                        found[f.key] = (change,)
        for pair in combinations(changes, 2):
            left = [f for f in findings if f.key not in found]
            if not left:
                break
            judged = self.probe({c.package: c.new_line for c in pair}, left)
            if isinstance(judged, dict):
                for f in left:
                    if judged[f.key][0]:
                        found[f.key] = pair
        return found

    def search(self, finding: Finding, change: Change, versions: Sequence[Version],
               held: Mapping[str, str]) -> None:
        """Halve ``versions`` (oldest first, the new pin last) down to the first that shows
        ``finding``, with ``held`` pins moved too; fills the finding's answer."""
        candidates = list(versions)
        low, high = -1, len(candidates) - 1  # low: last known good (-1: the old pin); high: known bad
        detail = ""
        while high - low > 1:
            middle = (low + high) // 2
            line = f"{change.package}=={candidates[middle]}"
            judged = self.probe({**held, change.package: line}, [finding])
            if isinstance(judged, str):
                finding.notes.append(f"{change.package} {candidates[middle]} skipped: {judged}")
                del candidates[middle]
                high -= 1
                continue
            bad, what = judged[finding.key]
            if bad:
                high, detail = middle, what
            else:
                low = middle
        finding.package = change.package
        finding.first_bad = f"{change.package} {candidates[high]}"
        finding.last_good = f"{change.package} {candidates[low] if low >= 0 else change.old}"
        finding.detail = detail or finding.summary
        finding.links = [release_notes(change.package, str(candidates[high])),
                         release_notes(change.package, str(candidates[low] if low >= 0 else change.old))]


# -- the result -----------------------------------------------------------------------------
@dataclass
class BisectResult:
    requirements: dict[str, list[str]]
    findings: list[Finding]
    steps: list[Step]
    endpoint: str  # the upgrade verdict's headline
    timing: dict[str, float] = field(default_factory=dict)

    def exit_code(self, fail_on_change: bool = False) -> int:
        if any(f.label == Outcome.REGRESSION.value for f in self.findings):
            return 1
        return CHANGED_EXIT if fail_on_change and self.findings else 0

    def headline(self) -> str:
        if not self.findings:
            return f"{NOTHING} ({self.endpoint})"
        return "; ".join(f.line() for f in self.findings)

    def _rows(self) -> list[list[str]]:
        return [[str(s.number), s.moved, f"{s.seconds:.0f}s" + (" (reused)" if s.reused else ""),
                 "; ".join(f"{k}: {v}" for k, v in s.verdicts.items())] for s in self.steps]

    def text(self) -> str:
        lines = [f"pytest-finetune bisect: {self.headline()}"]
        for f in self.findings:
            lines += ["", f"{f.label.upper()} {f.kind} {f.key}: {f.summary}"]
            if f.first_bad:
                lines.append(f"  first bad: {f.first_bad}; last good: {f.last_good}")
                lines += [f"  release notes: {link}" for link in f.links]
            lines += [f"  note: {note}" for note in f.notes]
        if self.steps:
            lines += ["", "Steps:"] + [f"  {row}".rstrip() for row in
                                        format_table(("step", "moved", "time", "verdicts"), self._rows())]
        lines += ["", "Built from:"] + [f"  - {side}: {' '.join(specs)}" for side, specs in self.requirements.items()]
        return "\n".join(lines) + "\n"

    def markdown(self) -> str:
        lines = ["## pytest-finetune bisect", "", f"**{_md(self.headline())}**"]
        for f in self.findings:
            lines += ["", f"### {f.label.upper()} {f.kind} `{f.key}`", "", _md(f.summary)]
            if f.first_bad:
                lines += ["", f"- first bad: **{f.first_bad}** ([release notes]({f.links[0]}))",
                          f"- last good: {f.last_good} ([release notes]({f.links[1]}))"]
            lines += [f"- note: {_md(note)}" for note in f.notes]
        if self.steps:
            lines += ["", "### Steps", "", "| step | moved | time | verdicts |", "| --- | --- | --- | --- |"]
            lines += ["| " + " | ".join(_md(x) for x in row) + " |" for row in self._rows()]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["headline"], data["exit_code"] = self.headline(), self.exit_code()
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


# -- the command ----------------------------------------------------------------------------
def add_bisect_arguments(parser: argparse.ArgumentParser) -> None:
    """``bisect``'s own options on top of ``upgrade``'s (the same specs, sources and outputs)."""
    parser.add_argument("--package", default=None, metavar="NAME",
                        help="bisect only this package (default: every package that changes)")
    parser.add_argument("--pre", action="store_true", help="include pre-releases between the pins")


def bisect(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """The whole bisection; ``upgrade``'s exit codes."""
    from pytest_finetune.upgrade.command import measure, plan, write_outputs
    from pytest_finetune.upgrade.suite import run_suite

    out = out or sys.stdout
    progress = Progress()
    the_plan = plan(args, progress)
    old_side, new_side = the_plan.sides
    changes = changes_between(old_side, new_side, args.package)
    ranges = {c.package: between(released_versions(c.package, the_plan.builder.sources, args.pre), c)
              for c in changes}
    for change in changes:
        progress.say(f"{change.package}: {len(ranges[change.package])} release(s) after {change.old} up to "
                     f"{change.new}; at most {_log2(len(ranges[change.package]))} step(s) to search them")
    done = measure(args, the_plan, progress)
    findings = findings_of(done.verdict, done.reports)
    started = progress.elapsed()
    if findings:
        progress.say(f"{len(findings)} finding(s) to locate: " + ", ".join(f"{f.label} {f.key}" for f in findings))
        output = Path(args.output)

        def run_step(side: Side, checks: Sequence[str]) -> Mapping[str, Any]:
            env: Env = the_plan.builder.ensure(side)
            env.threads = done.envs[0].threads  # the old side's thread count: same-seed runs stay comparable
            return run_suite(env, args.profile, output, progress, the_plan.options, ["-k", selection(checks)])

        bisection = Bisection(old_side, done.reports[0], run_step, progress)
        owners = bisection.attribute(findings, changes)
        for finding in findings:
            owner = owners.get(finding.key)
            if owner is None:
                finding.notes.append("no package moved alone or in a pair to its new pin shows it")
                continue
            held = {c.package: c.new_line for c in owner[1:]}
            if len(owner) > 1:
                finding.notes.append(f"shows only with {' and '.join(c.package for c in owner)} moved together; "
                                     f"{owner[0].package} bisected with {owner[1].package} at its new pin")
            bisection.search(finding, owner[0], ranges[owner[0].package], held)
        steps = bisection.steps
    else:
        steps = []
    result = BisectResult({side.label: list(side.requirements) for side in the_plan.sides}, findings, steps,
                          done.verdict.headline().split(":", 1)[0],
                          {**done.verdict.timing, "bisect_s": round(progress.elapsed() - started, 1),
                           "total_s": round(progress.elapsed(), 1)})
    out.write("\n" + result.text())
    write_outputs(args, {"json": result.to_json(), "markdown": result.markdown()}, progress)
    code = result.exit_code(args.fail_on_change)
    progress.say(f"exit {code}; {len(steps)} bisection step(s) after the 2 endpoint suites; "
                 f"bisection {result.timing['bisect_s']:.0f}s, total {progress.elapsed():.0f}s")
    return code


def _log2(count: int) -> int:
    steps, reach = 0, 1
    while reach < count:
        reach *= 2
        steps += 1
    return steps
