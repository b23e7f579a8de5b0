"""The invariant check: run both sides and the noise probes, compare, explain, name known issues.

One engine for every family and every runner (``perform``-style, as the baseline check's
``perform_check``): ``check_invariant`` takes a ``run`` callable (the pytest session's run
cache, or ``execute_run``), so the pytest fixture, a script and the tests of this repo
train through the same path. Nothing here imports pytest.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Callable, Mapping

from pytest_finetune.baselines.compare import noise_probes
from pytest_finetune.compat.known_issues import KNOWN_ISSUES, KnownIssue
from pytest_finetune.compat.versions import installed_version
from pytest_finetune.errors import ConfigError
from pytest_finetune.invariants.compare import Comparison, compare_runs, invariant_envelope
from pytest_finetune.invariants.families import Family, family as find_family
from pytest_finetune.runs.config import RunConfig
from pytest_finetune.runs.result import RunResult

# A divergence beyond FACTOR times the reference's measured noise fails: the README of this
# room says why 10 (measured: equivalent configurations stay within 3.5x; the broken ones in
# the positive controls leave it by 10^3 to 10^8).
FACTOR = 10.0
_RUN_FIELDS = {f.name for f in fields(RunConfig)}


def split_options(chosen: Family, settings: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``settings`` as (the family's options with their defaults, RunConfig overrides); a
    name that is neither is a ConfigError listing both."""
    unknown = sorted(set(settings) - set(chosen.options) - _RUN_FIELDS)
    if unknown:
        own = ", ".join(chosen.options) or "none"
        raise ConfigError(f"{chosen.name} invariant: unknown setting(s) {', '.join(unknown)}; its own: {own}; "
                          "or any run setting (RunConfig field)")
    options = {**chosen.options, **{k: v for k, v in settings.items() if k in chosen.options}}
    return options, {k: v for k, v in settings.items() if k not in chosen.options}


@dataclass
class InvariantOutcome:
    family: Family
    reference: RunResult
    variant: RunResult
    envelope: dict[str, Any]
    comparison: Comparison
    factor: float
    level: str = "sequence"  # the task's (tasks.base.level_of)
    known: list[KnownIssue] = field(default_factory=list)  # entries that explain the failure

    @property
    def holds(self) -> bool:
        return self.comparison.holds

    def sides(self) -> tuple[str, str]:
        return self.family.describe(self.variant.config), self.family.describe(self.reference.config)

    def headline(self) -> str:
        config = self.reference.config
        variant, reference = self.sides()
        claim = self.family.claim.format(variant=variant, reference=reference)
        if not self.holds:
            claim = claim.replace(" trains like ", " should train like ").replace(" gives what ", " should give what ")
        verdict = "holds" if self.holds else "broken"
        return f"{self.family.name} invariant {verdict} (runner {config.runner}, task {config.task}): {claim}"

    def message(self) -> str:
        """The failure: what moved first, by how much, which side, the likely cause, the rest,
        the envelope it was judged against, and the known issue it matches (if any)."""
        lines = [self.headline()]
        first = self.comparison.first
        if first is not None:
            variant = self.sides()[0]
            lines.append(f"  the variant ({variant}) is off: {describe_divergence(first, self.factor)}")
            cause = self.family.causes(first, self.reference.config, self.variant.config, self.level)
            lines.append(f"  likely cause: {cause}")
            rest = [describe_divergence(d, self.factor) for d in self.comparison.divergences[1:4]]
            if rest:
                lines.append("  also: " + "; ".join(rest))
        lines.append("  " + self.envelope_line())
        lines += [f"  {known_line(issue, self.reference.config.runner)}" for issue in self.known]
        return "\n".join(lines)

    def envelope_line(self) -> str:
        measured = self.envelope.get("measured_max", {})
        own = {f"{kind}={size:g}" for kind, size in self.reference.config.perturb}  # a control's hook, not a probe
        probes = ", ".join(part for probe in self.envelope.get("probes", []) for part in probe.split(", ")
                           if part not in own) or "none"
        return (f"noise envelope: the reference's own probes ({probes}) moved its loss by up to "
                f"{measured.get('loss_curve', 0.0):.1e}, its eval loss {measured.get('eval_loss', 0.0):.1e}, its "
                f"outputs {measured.get('eval_logits', 0.0):.1e} (floored at one float32 ulp); allowed "
                f"{self.factor:g}x")

    def table(self) -> list[tuple[str, str, str, str]]:
        """(signal, worst move in envelopes, allowed, verdict) per signal."""
        return [(row.signal, "inf" if row.worst == float("inf") else f"{row.worst:.2f}", f"{row.allowed:g}",
                 "ok" if row.ok else "FAIL") for row in self.comparison.rows]


def _times(ratio: float) -> str:
    return f"{ratio:.5f}x" if abs(ratio - 1) < 0.01 else f"{ratio:.2f}x"


def describe_divergence(found: Mapping[str, Any], factor: float) -> str:
    """One divergence in words: ``loss 2.00x the reference from step 1 (...)``."""
    signal = found["signal"]
    if signal == "steps":
        return f"{found['variant']} optimizer steps, the reference {found['reference']}"
    if signal == "evaluations":
        return f"{found['variant']} evaluations, the reference {found['reference']}"
    if signal == "learning rate":
        return (f"learning rate {found['variant']:.6g} at step {found['step']}, the reference "
                f"{found['reference']:.6g} ({_times(found['ratio'])})")
    if signal in ("loss", "eval loss"):
        where = f"step {found['step']}" if signal == "loss" else f"epoch {found['step']}"
        if signal == "loss" and not found.get("per_step", True):
            where = f"the bucket ending at step {found['step']}"
        return (f"{signal} {_times(found['ratio'])} the reference from {where} ({found['variant']:.6f} vs "
                f"{found['reference']:.6f}: {found['times']:.1e}x the noise envelope {found['envelope']:.1e}; "
                f"allowed {factor:g}x)")
    if signal == "outputs":
        return (f"fixed-batch outputs moved by up to {found['moved']:.2e} ({found['times']:.1e}x their envelope "
                f"{found['envelope']:.1e})")
    return (f"{signal.split(' ', 1)[1]} {found['variant']:.4f}, the reference {found['reference']:.4f} "
            f"(allowed +/- {found['allowed']:.4f})")


def known_line(issue: KnownIssue, runner: str) -> str:
    version = installed_version(issue.package)
    return (f"known issue {issue.id} ({issue.url}): {issue.title}; {issue.package} {version} is in its range "
            f"{issue.affected}, and runner {runner} fails the way it describes. {issue.remedy}").rstrip()


def known_issues_for(chosen: Family, level: str, kind: str) -> list[KnownIssue]:
    """The known-issues entries that explain a failure of ``chosen`` on a task of ``level``
    with a runner of ``kind``, inside their version range now (``compat.known_issues``)."""
    return [issue for issue in KNOWN_ISSUES if (chosen.name, level, kind) in issue.invariants and issue.applies()]


def check_invariant(name: str, base: RunConfig, run: Callable[[RunConfig], RunResult],
                    options: Mapping[str, Any] | None = None, factor: float = FACTOR, level: str = "sequence",
                    runner_kind: str = "trainer") -> InvariantOutcome:
    """Train the reference, the variant and the reference's two noise probes through ``run``;
    compare. ``base`` is the run configuration with the family's pins already applied
    (``pinned_config``); ``options`` the family's own settings (``split_options``)."""
    chosen = find_family(name)
    options = {**chosen.options, **(options or {})}
    reference_config = chosen.reference(base, options)
    reference = run(reference_config)
    variant = run(chosen.variant(base, options, reference))
    probes = [run(config) for config in noise_probes(reference_config)]  # keeping its test hooks
    envelope = invariant_envelope(reference, probes)
    comparison = compare_runs(reference, variant, envelope, factor)
    known = [] if comparison.holds else known_issues_for(chosen, level, runner_kind)
    return InvariantOutcome(chosen, reference, variant, envelope, comparison, factor, level, known)


def pinned_config(chosen: Family, config: RunConfig, given: Mapping[str, Any]) -> RunConfig:
    """``config`` with the family's pins, except those the caller set in ``given``."""
    pins = {k: v for k, v in chosen.pinned.items() if k not in given}
    return config.replace(**pins) if pins else config

