"""One verdict from two guard-suite reports: SAFE, CHANGED or REGRESSION (or FAILING).

Inputs are two ``--finetune-report`` JSON files (one per environment) and, where the
same-seed numerics moved, the seeds both sides trained for the quality comparison
(``baselines.quality``). Nothing here builds or runs anything, so the rules are
unit-tested on synthetic reports:

- **Correctness checks** (shapes, padding, loss decrease, runner parity and accumulation,
  anything that does not compare with a stored record): one that was good on old (passed,
  xpassed) and fails, errors, xfails, skips or is missing on new is a regression; one that
  fails or errors on new after anything but a failure on old too. Good on new after bad on
  old is an improvement. One that fails on both sides is not caused by the upgrade, but
  nothing is called safe while it fails: outcome FAILING. A regression that a **known
  upstream issue** explains is still a regression of the upgrade; the verdict names it.
- **Same-seed runs, old against new** (``baselines.compare.compare_sides``): each scenario
  that both sides trained is compared step by step, new against old, at the scenario's
  measured noise envelope, not each side against a stored record (a record made on one
  side makes any change read as a gain or a loss depending on where it was made). A move
  beyond the envelope, or a drift **fingerprint** (what the model sees) that differs
  between the sides, means the numerics CHANGED.
- **Quality, from seeds**: for each runner whose numerics changed, several seeds per side
  decide whether quality got worse (a one-sided test per signal, with the smallest
  worsening it could detect stated). Worse is a REGRESSION; not worse leaves CHANGED.
- The checks that compare with stored records (a test that called
  ``finetune_baseline.check`` or checked a fingerprint) are shown per side, but their pass
  or fail is judged by the side-by-side comparison above. The stored seed-band rows are
  shown too, and decide only for scenarios the two sides could not pair (GPU, other CPU
  kernels, a scenario missing on one side).

Outcomes (``baselines.outcome.Outcome``): REGRESSION (exit 1) over FAILING (exit 1) over
CHANGED (exit 0; ``--fail-on-change`` makes it exit 4) over SAFE (exit 0). No verdict without
a measurement: a side on which no check ran at all is FAILING, and CHANGED is never given
before the seeds it rests on were compared (``Verdict.pending``).
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

from pytest_finetune.baselines.check import changed_keys, values_match
from pytest_finetune.baselines.compare import compare_sides
from pytest_finetune.baselines.outcome import Outcome
from pytest_finetune.baselines.quality import QualityComparison, run_label
from pytest_finetune.report.tables import format_table
from pytest_finetune.runs.result import RunResult, version_changes
from pytest_finetune.runs.runners import BUILTIN_TASKS

GOOD = ("passed", "xpassed")
FAILING = ("failed", "error")
RAN = ("passed", "xpassed", "failed", "xfailed")  # a check that measured something
MISSING = "not run"
EXIT_CODES = {Outcome.SAFE: 0, Outcome.CHANGED: 0, Outcome.REGRESSION: 1, Outcome.FAILING: 1}
CHANGED_EXIT = 4  # --fail-on-change, for users who require bit-reproducibility (cli.exit_codes.CHANGED)


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
    kind: str  # "regression", "improvement", "changed", "failing on both", "judged side by side"
    old_message: str = ""
    new_message: str = ""
    known_issue: str | None = None


@dataclass
class Drift:
    name: str  # MRPC's fingerprints by name, a task's own as ``<task>/<name>``
    detail: str  # how old and new differ, first differing example first
    old_vs_stored: str  # "matches", "drifted" or "not run"
    new_vs_stored: str

    @property
    def task(self) -> str:
        """The task whose inputs drifted: the runs whose quality seeds must judge."""
        return self.name.split("/", 1)[0] if "/" in self.name else "mrpc"


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
    paired: bool = False  # the two sides' runs were compared with each other: this row only informs


@dataclass
class Move:
    """One scenario's same-seed runs, new against old: what moved beyond the noise first."""

    scenario: str
    runner: str
    profile: str
    seed: int
    compared: bool  # False: the two could not be paired (``notes`` says why)
    missing_on: str | None = None  # "old" or "new": only the other side trained it
    own: bool = False  # the user's own runner or task (from their tests): no seeds trained here
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    task: str = "mrpc"

    @property
    def key(self) -> tuple[str, str, str]:
        """(runner, profile, task): the seeds that judge this run's quality."""
        return self.runner, self.profile, self.task

    @property
    def moved(self) -> bool:
        return bool(self.failures)

    def first(self) -> str:
        return self.failures[0] if self.failures else ""

    def summary(self) -> str:
        """The first move in a headline's words: ``trainer/tiny seed 42: loss curve left the
        noise envelope first at step 1 of 20: 0.70 on new, 0.69 on old (+1.0e-03 = 16777x ...)``."""
        text = self.first()
        match = re.match(r"(?P<what>[^(]+) \([^)]*seed \d+\): (?P<rest>.*)", text)
        if match:
            text = f"{match['what']} {match['rest']}"
            cut = re.match(r".*?allowed [^)]*\)", text)
            text = cut.group(0) if cut else text
        return f"{run_label(*self.key)} seed {self.seed}: {_one_line(text, 240)}"


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
    record_checks: list[CheckChange] = field(default_factory=list)  # judged by the side-by-side runs
    drift: list[Drift] = field(default_factory=list)
    moves: list[Move] = field(default_factory=list)
    quality: list[QualityComparison] = field(default_factory=list)
    metrics: list[MetricRow] = field(default_factory=list)
    known_issues: list[IssueMatch] = field(default_factory=list)
    unchanged: int = 0
    measured: dict[str, int] = field(default_factory=dict)  # side -> checks that ran
    notes: list[str] = field(default_factory=list)
    rerecord: str = ""  # the command that re-records the baselines, shown with CHANGED
    timing: dict[str, float] = field(default_factory=dict)

    # -- what is still to measure -------------------------------------------------------
    def escalations(self) -> list[tuple[str, str, str]]:
        """(runner, profile, task) whose quality must be judged from seeds: the built-in
        runners and tasks whose same-seed runs moved, and every run of a task whose drift
        fingerprint moved (the user's own are judged by their recorded seed band)."""
        wanted = {m.key for m in self.moves if m.moved and not m.own}
        drifted = {d.task for d in self.drift}
        wanted |= {m.key for m in self.moves if m.task in drifted and not m.own}
        return sorted(wanted)

    @property
    def pending(self) -> list[tuple[str, str, str]]:
        done = {q.key for q in self.quality}
        return [item for item in self.escalations() if item not in done]

    # -- the outcome ----------------------------------------------------------------------
    @property
    def regressions(self) -> list[str]:
        found = [f"check {c.check}: {c.old} on old, {c.new} on new"
                 + (f" (known upstream issue {c.known_issue})" if c.known_issue else "")
                 for c in self.checks if c.kind == "regression"]
        found += [f"{q.label} quality worse from seeds: " + "; ".join(s.line() for s in q.worse)
                  for q in self.quality if q.worse]
        found += [f"{m.scenario}: no run on new (it trained on old)" for m in self.moves if m.missing_on == "new"]
        # A moved run of the user's own runner has no seeds trained here: its quality is what
        # the seed band recorded with its baseline says, so a drop below it on new decides.
        own_moved = {m.scenario for m in self.moves if m.own and m.moved}
        found += [f"{m.scenario} {m.metric}: {m.old_verdict} on old, {m.new_verdict} on new"
                  + (" (the seed band recorded with your baseline)" if m.scenario in own_moved else "")
                  for m in self.metrics if m.kind == "regression" and (not m.paired or m.scenario in own_moved)]
        if not any(m.compared for m in self.moves):  # no run on both sides could tell its effect on quality
            found += [f"fingerprint {d.name} drifted (no run trained on both sides to judge its effect)"
                      for d in self.drift]
        return found

    @property
    def unmeasured_sides(self) -> list[str]:
        return [side for side in ("old", "new") if self.measured.get(side, 0) == 0]

    @property
    def outcome(self) -> Outcome:
        if self.pending:
            raise ValueError(f"the quality of {self.pending} must be compared from seeds before a verdict")
        if self.unmeasured_sides:  # whatever else the reports say, one side measured nothing
            return Outcome.FAILING
        if self.regressions:
            return Outcome.REGRESSION
        if self.failing_on_both:
            return Outcome.FAILING
        if any(m.moved for m in self.moves) or self.drift:
            return Outcome.CHANGED
        return Outcome.SAFE

    def exit_code(self, fail_on_change: bool = False) -> int:
        outcome = self.outcome
        return CHANGED_EXIT if outcome is Outcome.CHANGED and fail_on_change else EXIT_CODES[outcome]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["quality"] = [q.to_dict() for q in self.quality]
        data["outcome"] = data["verdict"] = self.outcome.value
        data["exit_code"] = self.exit_code()
        data["regressions"] = self.regressions
        data["headline"] = self.headline()
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
            sections.append(("Correctness checks whose outcome changed", ("check", "old", "new", "verdict",
                                                                          "known issue"),
                             [[c.check, c.old, c.new, c.kind, c.known_issue or ""] for c in self.checks]))
            details = [f"{c.check} on new: {_one_line(c.new_message)}" for c in self.checks
                       if c.kind == "regression" and c.new_message]
            if details:
                sections.append(("Why they fail on new", None, details))
        if self.failing_on_both:
            sections.append(("Failing on both sides (not caused by the upgrade; nothing is safe while they fail)",
                             None, [f"{c.check}: {c.old} / {c.new}: {_one_line(c.new_message)}"
                                    for c in self.failing_on_both]))
        if self.moves:
            sections.append(("Same-seed runs, new against old (step by step, at the measured noise)",
                             ("scenario", "seed", "verdict", "what moved first"),
                             [[m.scenario, str(m.seed), "moved" if m.moved else "same" if m.compared else "not compared",
                               _one_line(m.first() or "; ".join(m.notes) or "nothing beyond the noise", 240)]
                              for m in self.moves]))
        for q in self.quality:
            sections.append((f"Quality from seeds: {q.label}, seeds {', '.join(map(str, q.seeds))} "
                             f"per side ({q.test}, family-wise α = {q.alpha:g}, power {q.power:g})",
                             ("signal", "old mean", "new mean", "change ± SE", "p", "α", "detectable", "verdict"),
                             [[s.label, f"{_mean(s.old):.4f}", f"{_mean(s.new):.4f}", f"{s.delta():+.4f} ± {s.se:.4f}",
                               f"{s.p:.3g}", f"{s.alpha:.4g}", f"{s.mde:.4f}", "WORSE" if s.worse else "not worse"]
                              for s in q.signals]))
        if self.drift:
            sections.append(("Fingerprint drift between old and new", ("fingerprint", "old vs stored",
                                                                        "new vs stored", "first difference"),
                             [[d.name, d.old_vs_stored, d.new_vs_stored, d.detail] for d in self.drift]))
        if self.record_checks:
            sections.append(("Checks against stored records (judged by the side-by-side runs above)",
                             ("check", "old", "new"), [[c.check, c.old, c.new] for c in self.record_checks]))
        # Rows of scenarios the two sides could pair only inform: shown when a side left its band.
        shown = [m for m in self.metrics if not m.paired or m.old_verdict != "ok" or m.new_verdict != "ok"]
        if shown:
            sections.append(("Metrics and loss curves vs the stored seed band (each side alone)",
                             ("scenario", "metric", "baseline", "allowed", "old", "new", "verdict"),
                             [[m.scenario, m.metric, _number(m.baseline), m.allowed, _with_verdict(m.old, m.old_verdict),
                               _with_verdict(m.new, m.new_verdict), "shown only" if m.paired else m.kind]
                              for m in shown]))
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
        outcome = self.outcome
        if outcome is Outcome.REGRESSION:
            text = f"REGRESSION: {len(self.regressions)} finding(s): " + "; ".join(self.regressions)
            changed = self._changes_not_worse()
            return text + (f". CHANGED, not a regression: {'; '.join(changed)}" if changed else "")
        if outcome is Outcome.FAILING:
            if self.unmeasured_sides:
                return (f"FAILING: nothing was measured on {' and '.join(self.unmeasured_sides)} (no check ran): "
                        "no verdict without a measurement")
            return (f"FAILING: {len(self.failing_on_both)} check(s) fail on both sides (not caused by the upgrade, "
                    "but nothing is safe while they fail): " + ", ".join(c.check for c in self.failing_on_both))
        if outcome is Outcome.CHANGED:
            text = ("CHANGED: the same-seed numerics moved, every correctness check holds and quality is not "
                    "worse: " + "; ".join(self._changes_not_worse()))
            return text + (f". If the change is expected, re-record the baselines: {self.rerecord}"
                           if self.rerecord else "")
        compared = sum(1 for m in self.moves if m.compared)
        return (f"SAFE: nothing moved beyond the measured noise ({self.unchanged} checks unchanged, "
                f"{compared} same-seed run(s) equal on both sides)")

    def _changes_not_worse(self) -> list[str]:
        """The moves whose quality the seeds found not worse, with that comparison's first line."""
        worse = {q.key for q in self.quality if q.worse}
        what = [m.summary() for m in self.moves if m.moved and m.key not in worse]
        what += [f"fingerprint {d.name} differs ({_one_line(d.detail, 120)})" for d in self.drift]
        what += [f"{q.label}: quality not worse: {q.signals[0].line()}" for q in self.quality
                 if q.signals and not q.worse]
        return what

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
        lines = [f"## pytest-finetune upgrade: {self.outcome.value}", "", f"**{_md(self.headline())}**"]
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


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


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


def record_check_ids(report: Mapping[str, Any]) -> set[str]:
    """The checks of ``report`` that compared with a stored record (a baseline or a drift
    fingerprint): the events they emitted name them (reports before that named none)."""
    entries = list(report.get("comparisons", {}).values()) + list(report.get("fingerprints", {}).values())
    return {check_id(entry["nodeid"]) for entry in entries if entry.get("nodeid")}


def _check_changes(old: Mapping[str, Any], new: Mapping[str, Any], verdict: Verdict) -> None:
    a, b = _outcomes(old), _outcomes(new)
    against_records = record_check_ids(old) | record_check_ids(new)
    for side, outcomes in (("old", a), ("new", b)):
        verdict.measured[side] = sum(1 for entry in outcomes.values() if entry.get("outcome") in RAN)
    for check in sorted(set(a) | set(b)):
        was = a.get(check, {}).get("outcome", MISSING)
        now = b.get(check, {}).get("outcome", MISSING)
        kind = classify(was, now)
        change = CheckChange(check, was, now, kind or "", a.get(check, {}).get("message", ""),
                             b.get(check, {}).get("message", ""))
        if check in against_records:
            if kind is not None or was in FAILING:
                change.kind = "judged side by side"
                verdict.record_checks.append(change)
            else:
                verdict.unchanged += 1
        elif kind is None:
            verdict.unchanged += 1
            if was == now == "skipped":
                verdict.notes.append(f"{check} was skipped on both sides (not measured): "
                                     f"{_one_line(b.get(check, {}).get('message', ''), 120)}")
        else:
            (verdict.failing_on_both if kind == "failing on both" else verdict.checks).append(change)


def _moves(old: Mapping[str, Any], new: Mapping[str, Any], verdict: Verdict) -> None:
    """Each scenario's run on new against old's run of the same seed (``compare_sides``)."""
    a, b = old.get("results", {}), new.get("results", {})
    for scenario in sorted(set(a) | set(b)):
        ref = b.get(scenario) or a[scenario]
        config = ref["config"]
        task = config.get("task", "mrpc")
        # Seeds train outside pytest, where only the built-in runners and tasks exist.
        own = bool(config.get("runner_source") or config.get("task_source")) or task not in BUILTIN_TASKS
        move = Move(scenario, config["runner"], config["profile"], int(config["seed"]), compared=False,
                    own=own, task=task)
        if scenario not in b or scenario not in a:
            move.missing_on = "new" if scenario not in b else "old"
            move.notes.append(f"no run on {move.missing_on}")
            verdict.moves.append(move)
            continue
        noise = _noise(new, scenario) or _noise(old, scenario)
        comparison = compare_sides(RunResult.from_dict(a[scenario]), RunResult.from_dict(b[scenario]), noise, scenario)
        move.compared = bool(comparison.paired)
        move.failures, move.notes = list(comparison.failures), list(comparison.notes)
        if move.own and move.moved:
            verdict.notes.append(f"{scenario}: your own runner or task moved; upgrade trains seeds of the "
                                 "built-in runners and tasks only, so its quality is judged by the seed band "
                                 "recorded with its baseline (its rows below: a drop below the band on new is a "
                                 "regression); "
                                 "record that band with --finetune-seeds 3 or more")
        verdict.moves.append(move)


def _noise(report: Mapping[str, Any], scenario: str) -> dict[str, Any] | None:
    return (report.get("comparisons", {}).get(scenario) or {}).get("noise")


def _first_difference(name: str, old: Any, new: Any, example_text: Callable[[int], str] | None) -> str:
    """Where two fingerprint values first differ, as a reader wants it: the example's text
    (MRPC's; a task's own fingerprints, named ``<task>/<name>``, give the index)."""
    if "/" in name:
        example_text = None
    if isinstance(old, dict) and isinstance(new, dict) and "per_example" not in old and "per_example" not in new:
        return changed_keys(old, new, "old", "new")
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
    """Each side's rows against the stored record; they decide only where the two sides'
    runs could not be compared with each other."""
    a, b = _rows(old), _rows(new)
    paired = {m.scenario for m in verdict.moves if m.compared}
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        ref = y or x
        old_verdict = x["verdict"] if x else MISSING
        new_verdict = y["verdict"] if y else MISSING
        verdict.metrics.append(MetricRow(
            key[0], key[1], ref["baseline"], ref.get("allowed", ""), x["now"] if x else None,
            y["now"] if y else None, old_verdict, new_verdict, _metric_kind(old_verdict, new_verdict),
            paired=key[0] in paired))


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
    example ``i`` for a tokenizer drift; ``requirements`` are the specs each side was built from.

    Where the same-seed runs moved (``Verdict.escalations``), the caller trains seeds on
    both sides and adds their ``baselines.quality.compare_quality`` to ``Verdict.quality``
    before asking for the outcome."""
    verdict = Verdict(versions={"old": dict(old.get("versions", {})), "new": dict(new.get("versions", {}))},
                      requirements={side: list(specs) for side, specs in (requirements or {}).items()})
    _check_changes(old, new, verdict)
    _drift(old, new, verdict, example_text)
    _moves(old, new, verdict)
    _metrics(old, new, verdict)
    _known_issues(new, verdict, known_issues)
    return verdict
