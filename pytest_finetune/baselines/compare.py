"""Compare a RunResult with its baseline: direction-aware metric bands and a loss-curve band.

A drop below the band fails. A gain above it passes but is reported: after an upgrade, a
big gain is news too (a changed default, an eval bug) and a reviewer should see it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pytest_finetune.baselines.store import METRICS, downsample
from pytest_finetune.runs.result import RunResult, version_changes


@dataclass
class Row:
    scenario: str
    metric: str
    baseline: float
    now: float
    allowed: str
    verdict: str  # "ok", "FAIL", "gain"

    @property
    def delta(self) -> float:
        return self.now - self.baseline


@dataclass
class Comparison:
    scenario: str
    rows: list[Row] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    version_changes: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.failures

    def message(self, baseline_file: str) -> str:
        lines = [f"{self.scenario}: run differs from baseline {baseline_file}"]
        lines += [f"  {failure}" for failure in self.failures]
        if self.version_changes:
            lines.append("  library versions that differ (baseline -> now): " + ", ".join(
                f"{name} {old} -> {new}" for name, (old, new) in sorted(self.version_changes.items())))
        else:
            lines.append("  library versions: same as the baseline")
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


def half_width(std: float, k: float, floor: float) -> float:
    return max(k * std, floor)


def compare(result: RunResult, baseline: dict[str, Any], scenario: str, k: float | None = None) -> Comparison:
    tolerance = baseline["tolerance"]
    k = float(tolerance["k"] if k is None else k)
    out = Comparison(scenario)
    for metric in METRICS:
        stats = baseline["metrics"][metric]
        width = half_width(stats["std"], k, tolerance["metric_floor"])
        low, high = stats["mean"] - width, stats["mean"] + width
        now = float(getattr(result, metric))
        verdict = "FAIL" if now < low else "gain" if now > high else "ok"
        allowed = f">= {low:.4f}"
        out.rows.append(Row(scenario, metric, stats["mean"], now, allowed, verdict))
        if stats["mean"] > 0 and low <= 0:  # every result in [0, 1] passes: say so, loudly
            out.notes.append(f"{metric} is not checked: the band mean - max(k*std, floor) = "
                             f"{stats['mean']:.4f} - max({k:g}*{stats['std']:.4f}, "
                             f"{tolerance['metric_floor']}) = {low:.4f} reaches 0; expected a smaller "
                             "--finetune-tolerance-k or seeds that agree more (a larger eval split)")
        if verdict == "FAIL":
            out.failures.append(f"{metric}: baseline {stats['mean']:.4f} (std {stats['std']:.4f}, "
                                f"{len(stats['values'])} seed(s)), now {now:.4f}, allowed {allowed} "
                                f"(mean - max({k:g}*std, {tolerance['metric_floor']}))")
        elif verdict == "gain":
            out.notes.append(f"{metric} rose above the band: baseline {stats['mean']:.4f}, now "
                             f"{now:.4f} (band top {high:.4f}); if expected, update the baseline")
    curve = baseline["loss_curve"]
    if len(result.losses) < len(curve["steps"]) or downsample(result.losses)[0] != curve["steps"]:
        out.failures.append(f"loss curve: {len(result.losses)} steps now, baseline has points at "
                            f"steps {curve['steps'][:3]}...{curve['steps'][-1:]}: a different schedule")
    else:
        _, now_curve = downsample(result.losses)
        worst = None
        for step, mean, std, now in zip(curve["steps"], curve["mean"], curve["std"], now_curve):
            width = half_width(std, k, tolerance["loss_floor"])
            excess = abs(now - mean) - width
            if excess > 0 and (worst is None or excess > worst[0]):
                worst = (excess, step, mean, now, width)
        worst_dev = max(abs(n - m) for n, m in zip(now_curve, curve["mean"]))
        out.rows.append(Row(scenario, "loss curve (max |dev|)", 0.0, worst_dev,
                            "in band", "FAIL" if worst else "ok"))
        if worst:
            _, step, mean, now, width = worst
            out.failures.append(f"loss curve: at step {step} the mean loss is {now:.4f}, baseline "
                                f"{mean:.4f} +/- {width:.4f}")
    out.version_changes = version_changes(baseline.get("versions", {}), result.versions)
    return out
