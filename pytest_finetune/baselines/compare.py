"""Compare a RunResult with its baseline: a paired same-seed check first, then seed bands.

**Paired check** (CPU, same scenario, same CPU kind, the run's seed recorded): on CPU the
same seed with the same versions gives a bit-identical run, so the run is compared with
its *own seed's* record (loss curve, per-epoch eval, logits of a fixed eval batch, metrics)
and any move larger than ``NOISE_FACTOR`` times the measured numerical-noise envelope fails.
The envelope (``measure_noise``) is how far the same seed moves under changes that must
not count: another torch thread count (reduction order) and a 1-ulp nudge of every
initial weight, run when the baseline is made and stored in it. The failure says what
moved first (the step, by how much, in which runner) and whether step 1 moved: the first
loss comes before any update, so a moved step 1 points at data, tokenization, initial
weights, forward numerics or the loss, and a curve that leaves only later points at the
optimizer, schedule or gradients.

**Seed bands** stay for the metrics users read (accuracy, F1) and for comparisons the
paired check cannot make (another device or precision, a seed without a record, a
format-1 baseline): a metric passes when it is at least ``mean - max(k*std, floor)``, where
the floor is the larger of the stored one and ``METRIC_FLIPS`` eval predictions (a band
narrower than the metric's own step fails on one flipped prediction). A gain above the
band passes but is reported: after an upgrade, a big gain is news too.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

from pytest_finetune.baselines.outcome import Outcome
from pytest_finetune.baselines.scenario import scenario_of, without_identity
from pytest_finetune.baselines.store import SEED_POINTS, downsample, metric_names, seed_metric, seed_record
from pytest_finetune.runs.config import RunConfig
from pytest_finetune.runs.result import RunResult, version_changes
from pytest_finetune.tasks.base import lower_is_better

_SHORT = {"accuracy": "acc"}
NOISE_FACTOR = 10.0  # paired check: a move up to 10x the measured noise envelope is noise
METRIC_FLIPS = 2  # metric granularity: changes of up to 2 eval predictions are not judged


@dataclass(frozen=True)
class Words:
    """How a paired failure names its two sides: a run and its stored record (pytest, ``run``),
    or the new and the old side of an upgrade, compared with each other."""

    now: str = "now"
    then: str = "recorded"
    record: str = "this seed's record"
    short: str = "now/recorded"
    then_metric: str = "in this seed's record"


RECORD_WORDS = Words()
UPGRADE_WORDS = Words(now="on new", then="on old", record="the old side", short="new/old", then_metric="on old")


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
    paired: str = ""  # what the paired check compared with ("" when it could not run)
    paired_failures: int = 0  # how many of ``failures`` (the first ones) the same-seed check found

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def outcome(self) -> Outcome:
        """``safe`` (nothing moved), ``changed`` (the same-seed numerics moved, the seed-spread
        bands hold) or ``regression`` (a metric or the curve left its seed band): the three
        outcomes of an upgrade verdict, as one run against its record can tell them."""
        if not self.failures:
            return Outcome.SAFE
        return Outcome.CHANGED if len(self.failures) == self.paired_failures else Outcome.REGRESSION

    def band_line(self) -> str | None:
        """Whether the seed-spread bands hold, when the same-seed check failed: a moved run
        whose metrics stay in the recorded seeds' spread is a change to look at, one that
        leaves them is worse than every recorded seed allows."""
        if not self.paired_failures:
            return None
        bands = [r for r in self.rows if " " not in r.metric]  # the seed bands' rows: a bare metric name
        shown = ", ".join(f"{r.metric} {r.now:.4f} ({r.allowed})" for r in bands)
        if self.outcome is Outcome.CHANGED:
            return (f"seed band: holds ({shown}): the same-seed numerics moved, but the metrics stay "
                    "within the recorded seeds' spread")
        return f"seed band: does NOT hold ({shown})"

    def message(self, baseline_file: str) -> str:
        lines = [f"{self.scenario}: run differs from baseline {baseline_file}"]
        lines += [f"  {failure}" for failure in self.failures]
        band = self.band_line()
        if band:
            lines.append(f"  {band}")
        if self.version_changes:
            lines.append("  library versions that differ (baseline -> now): " + ", ".join(
                f"{name} {old} -> {new}" for name, (old, new) in sorted(self.version_changes.items())))
        else:
            lines.append("  library versions: same as the baseline")
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


def half_width(std: float, k: float, floor: float) -> float:
    return max(k * std, floor)


def ulp32(value: float) -> float:
    """The float32 spacing at ``value``: the smallest move a float32 loss or logit can show."""
    return 2.0 ** (math.frexp(max(abs(value), 1e-30))[1] - 24)


def _running_max(values: Sequence[float]) -> list[float]:
    out, top = [], 0.0
    for value in values:
        top = max(top, value)
        out.append(top)
    return out


def noise_probes(config: RunConfig) -> list[RunConfig]:
    """The runs that measure the noise envelope of ``config``: changes that must not count.
    (A config that carries test hooks keeps them: an invariant's positive control measures
    its envelope on the perturbed reference, ``invariants.check``.)"""
    import torch

    other_threads = 1 if torch.get_num_threads() > 1 else 2
    return [config.replace(perturb=config.perturb + (("threads", other_threads),)),
            config.replace(perturb=config.perturb + (("init_ulp", 1),))]


def measure_noise(clean: RunResult, probes: Sequence[RunResult]) -> dict[str, Any]:
    """The numerical-noise envelope of ``clean``'s seed, from its ``noise_probes`` runs.

    Per curve point: the largest |probe - clean| over the probes, as a running maximum
    along the curve (noise only grows during training), never below one float32 ulp of the
    value. Per epoch the same for the eval loss; one number for the fixed-batch logits; the
    largest metric change. The paired check allows ``factor`` times these.
    """
    ref = seed_record(clean)
    curve_dev = [0.0] * len(ref["losses"])
    eval_dev = [0.0] * len(ref["eval_history"])
    logits_dev, metric_dev = 0.0, {m: 0.0 for m in clean.metrics}
    for probe in probes:
        rec = seed_record(probe)
        if rec["loss_steps"] != ref["loss_steps"] or len(rec["eval_history"]) != len(eval_dev):
            raise ValueError(f"noise probe {probe.config.perturb} changed the schedule: "
                             f"{len(probe.losses)} steps, clean run {len(clean.losses)}")
        curve_dev = [max(d, abs(a - b)) for d, a, b in zip(curve_dev, rec["losses"], ref["losses"])]
        eval_dev = [max(d, abs(a["eval_loss"] - b["eval_loss"]))
                    for d, a, b in zip(eval_dev, rec["eval_history"], ref["eval_history"])]
        logits_dev = max([logits_dev] + [abs(x - y) for ra, rb in zip(rec["eval_logits"], ref["eval_logits"])
                                         for x, y in zip(ra, rb)])
        for m in metric_dev:
            metric_dev[m] = max(metric_dev[m], abs(rec[m] - ref[m]))
    biggest_logit = max((abs(x) for row in ref["eval_logits"] for x in row), default=1.0)
    return {
        "seed": clean.config.seed,
        "probes": [", ".join(f"{kind}={size:g}" for kind, size in p.config.perturb) for p in probes],
        "method": ("the seed's run repeated under each probe; per curve point the running max "
                   "over steps of the largest |probe - clean|, floored at one float32 ulp of the value"),
        "measured_max": {"loss_curve": max(curve_dev, default=0.0), "eval_loss": max(eval_dev, default=0.0),
                         "eval_logits": logits_dev},
        "loss_curve": [max(ulp32(v), d) for v, d in zip(ref["losses"], _running_max(curve_dev))],
        "eval_loss": [max(ulp32(e["eval_loss"]), d)
                      for e, d in zip(ref["eval_history"], _running_max(eval_dev))],
        "eval_logits": max(ulp32(biggest_logit), logits_dev),
        **metric_dev,
        "factor": NOISE_FACTOR,
    }


def ulp_envelope(record: dict[str, Any], metrics: Sequence[str] = ("accuracy", "f1")) -> dict[str, Any]:
    """The envelope of a seed record whose noise was never measured: one float32 ulp per
    value, the floor ``measure_noise`` never goes below. Two runs that should be
    bit-identical (same seed, same CPU, nothing changed) pass it; anything that moved the
    numerics by more than ``NOISE_FACTOR`` ulps does not."""
    biggest_logit = max((abs(x) for row in record["eval_logits"] for x in row), default=1.0)
    return {"loss_curve": [ulp32(v) for v in record["losses"]],
            "eval_loss": [ulp32(e["eval_loss"]) for e in record["eval_history"]] or [ulp32(1.0)],
            "eval_logits": ulp32(biggest_logit), **{m: 0.0 for m in metrics}, "factor": NOISE_FACTOR,
            "method": "no measured envelope: one float32 ulp per value"}


def sides_pairing_problem(old: RunResult, new: RunResult) -> str | None:
    """Why two runs cannot be compared step by step as the same seed (None: they can)."""
    if "cpu" not in (old.device, new.device) or old.device != new.device:
        return f"they ran on {old.device} and {new.device}; same-seed runs are bit-identical only on CPU"
    configs = [{k: v for k, v in r.to_dict()["config"].items() if k != "perturb"} for r in (old, new)]
    if configs[0] != configs[1]:  # a perturbation (a test hook) is judged against the clean run
        return "their run configurations differ"
    kinds = [(r.hardware or {}).get("cpu_capability") for r in (old, new)]
    if kinds[0] and kinds[1] and kinds[0] != kinds[1]:
        return f"they used {kinds[0]} and {kinds[1]} CPU kernels"
    return None


def compare_sides(old: RunResult, new: RunResult, noise: dict[str, Any] | None, scenario: str) -> Comparison:
    """The paired same-seed check between the two sides of an upgrade: ``new`` judged against
    ``old``'s run of the same configuration and seed, step by step, with the scenario's
    measured noise envelope (one float32 ulp per value when none was measured).

    This, not each side against a stored record, is what an upgrade verdict rests on: a
    record made on one side makes any change read as a gain or a loss depending on which
    side recorded it. ``Comparison.paired`` is empty when the two cannot be paired (a note
    says why); then nothing was compared.
    """
    out = Comparison(scenario)
    why_not = sides_pairing_problem(old, new)
    if why_not:
        out.notes.append(f"the two sides' runs were not compared step by step: {why_not}")
        return out
    record = seed_record(old)
    usable = noise is not None and len(noise.get("loss_curve", [])) == len(record["losses"])
    envelope = noise if usable else ulp_envelope(record, list(old.metrics))
    factor = float(envelope.get("factor", NOISE_FACTOR))
    out.paired = f"the old side's run of seed {old.config.seed}"
    _paired_curve(new, record, envelope, factor, scenario, out, UPGRADE_WORDS)
    _paired_eval(new, record, envelope, factor, scenario, out, UPGRADE_WORDS)
    _paired_metrics(new, {m: float(v) for m, v in old.metrics.items() if m in new.metrics},
                    envelope if usable else None,
                    scenario, out, UPGRADE_WORDS)
    out.paired_failures = len(out.failures)
    if not usable:
        out.notes.append("no measured noise envelope for this scenario: the sides were compared to "
                         f"{factor:g} float32 ulps per value")
    return out


def _unpaired_reason(result: RunResult, baseline: dict[str, Any]) -> str | None:
    if result.device != "cpu":
        return f"the run is on {result.device}; same-seed runs are bit-identical only on CPU"
    if without_identity(scenario_of(result.config, result.device)) != without_identity(baseline["scenario"]):
        return "the baseline is the closest match, not this scenario"
    recorded = (baseline.get("hardware") or {}).get("cpu_capability")
    now = (result.hardware or {}).get("cpu_capability")
    if recorded and now and recorded != now:
        return f"the baseline was recorded on a {recorded} CPU, this run used {now} kernels"
    return None


def _flip_weight(metric: str) -> int:
    """How many accuracy quanta one flipped prediction can move ``metric``: F1 (binary or
    macro) moves about twice as far as accuracy."""
    return 2 if metric.startswith("f1") else 1


def _quantum(result: RunResult) -> float:
    """One eval prediction's worth of accuracy (0 when the run did not record its predictions)."""
    n = sum(result.prediction_counts)
    return 1.0 / n if n else 0.0


def _paired(result: RunResult, baseline: dict[str, Any], scenario: str, out: Comparison) -> bool:
    """Same-seed checks; True when they ran (then the curve band is not needed)."""
    seed = result.config.seed
    why_not = _unpaired_reason(result, baseline)
    if why_not is None and all(seed_metric(baseline, seed, m) is None for m in metric_names(baseline)):
        why_not = f"seed {seed} has no record (recorded: {', '.join(map(str, baseline.get('seeds', [])))})"
    if why_not:
        out.notes.append(f"paired same-seed check not run: {why_not}; seed-spread bands only")
        return False
    runner = result.config.runner
    noise = baseline.get("noise")
    record = (baseline.get("seed_runs") or {}).get(str(seed))
    out.paired = f"seed {seed}'s own record"
    curve_checked = False
    if record is not None and noise is not None:
        curve_checked = True
        factor = float(noise["factor"])
        _paired_curve(result, record, noise, factor, scenario, out)
        _paired_eval(result, record, noise, factor, scenario, out)
    else:
        missing = "measured noise envelope" if record is not None else "per-seed curve or noise envelope"
        out.notes.append(f"paired check of seed {seed} covers accuracy/F1 only: this baseline (format "
                         f"{baseline.get('format_version')}) has no {missing}; re-record it with "
                         "--finetune-update-baselines=all --finetune-seeds 3")
    stored = {metric: seed_metric(baseline, seed, metric) for metric in metric_names(baseline)
              if metric in result.metrics}
    _paired_metrics(result, {m: v for m, v in stored.items() if v is not None}, noise, scenario, out)
    return curve_checked


def _paired_metrics(result: RunResult, stored: dict[str, float], noise: dict[str, Any] | None,
                    scenario: str, out: Comparison, words: Words = RECORD_WORDS) -> None:
    """The metrics of the same seed: a worsening beyond 2 eval predictions (or twice what the
    noise probes moved them) fails, an improvement beyond it is a note; worse is lower, or
    higher for a metric better when lower (perplexity: ``tasks.base.lower_is_better``)."""
    runner, seed = result.config.runner, result.config.seed
    for metric, then in stored.items():
        now = float(result.metrics[metric])
        measured = float(noise[metric]) if noise is not None else 0.0
        flips = METRIC_FLIPS * _quantum(result) * _flip_weight(metric)
        allowed = max(2 * measured, flips)
        delta = now - then
        worse = -delta if not lower_is_better(metric) else delta
        verdict = "FAIL" if worse > allowed + 1e-12 else "gain" if worse < -allowed - 1e-12 else "ok"
        out.rows.append(Row(scenario, f"{metric} (paired, seed {seed})", then, now,
                            f"|delta| <= {allowed:.4f}", verdict))
        source = (f"2 x the noise probes' {measured:.4f} or {METRIC_FLIPS} eval predictions"
                  if noise is not None else f"{METRIC_FLIPS} eval predictions; no measured envelope")
        if verdict == "FAIL":
            out.failures.append(f"{metric} ({runner} runner, seed {seed}): {now:.4f} {words.now}, {then:.4f} "
                                f"{words.then_metric} "
                                f"({delta:+.4f}; allowed {'+' if lower_is_better(metric) else '-'}{allowed:.4f}: {source})")
        elif verdict == "gain":
            out.notes.append(f"{metric} of seed {seed} improved beyond noise: {then:.4f} -> {now:.4f}")


def _paired_curve(result: RunResult, record: dict[str, Any], noise: dict[str, Any], factor: float,
                  scenario: str, out: Comparison, words: Words = RECORD_WORDS) -> None:
    runner, seed = result.config.runner, result.config.seed
    steps, now = downsample(result.losses, SEED_POINTS)
    if steps != record["loss_steps"]:
        out.rows.append(Row(scenario, f"loss curve (paired, seed {seed})", len(record["losses"]),
                            len(result.losses), "same steps", "FAIL"))
        out.failures.append(f"loss curve ({runner} runner, seed {seed}): {len(result.losses)} optimizer "
                            f"steps {words.now}, {words.record} has points up to step {record['loss_steps'][-1]}: "
                            "the schedule changed (epochs, batch size, train split size)")
        return
    envelope = noise["loss_curve"]
    ratios = [abs(a - b) / e for a, b, e in zip(now, record["losses"], envelope)]
    worst = max(ratios, default=0.0)
    out.rows.append(Row(scenario, f"loss curve (paired, seed {seed}): max |delta| / noise", 0.0, worst,
                        f"<= {factor:g}", "FAIL" if worst > factor else "ok"))
    first = next((i for i, r in enumerate(ratios) if r > factor), None)
    if first is None:
        return
    step, delta = steps[first], now[first] - record["losses"][first]
    big = max(range(len(ratios)), key=lambda i: abs(now[i] - record["losses"][i]))
    point = "step" if steps == list(range(1, len(steps) + 1)) else "bucket ending at step"
    before_updates = ("the data, tokenization or collation, the initial weights, the forward numerics or "
                      "the loss itself changed")
    if point != "step":  # bucket means: the first point already averages updated steps
        where = ("the buckets before it are within noise (a curve of bucket means cannot tell a change "
                 "before the first update from one in the updates; the tiny profile's per-step curve can)"
                 if first else
                 f"the first bucket (steps 1-{steps[0]}) already moved: {before_updates}, or the first "
                 "updates did")
    elif first == 0:
        where = f"step 1 already moved: its loss comes before any update, so {before_updates}"
    elif ratios[0] > 1.0:
        # Under the limit but beyond what the noise probes ever moved it: a change in the
        # updates alone leaves step 1 exactly where it was, so this is not one.
        where = (f"step 1 moved too, by {ratios[0]:.1f}x the envelope (beyond the measured noise, under the "
                 f"{factor:g}x limit): its loss comes before any update, so {before_updates}, slightly")
    else:
        where = (f"steps before {step} are within noise (step 1 included), so the change acts through "
                 "the updates (optimizer, schedule, gradients, clipping) or data seen only later")
    epoch = _epoch_starting_in(first, steps, len(result.losses), result.config.epochs)
    if epoch and first:
        where += (f"; it holds the first step of epoch {epoch} and nothing before it left the envelope, which "
                  f"points at the data order of epoch {epoch} (how the sampler is seeded, or random numbers "
                  "drawn between epochs, e.g. by the evaluation) or at what runs at the epoch boundary")
    out.failures.append(
        f"loss curve ({runner} runner, seed {seed}): left the noise envelope first at {point} {step} of "
        f"{len(result.losses)}: {now[first]:.6f} {words.now}, {record['losses'][first]:.6f} {words.then} ({delta:+.2e} = "
        f"{ratios[first]:.0f}x the envelope {envelope[first]:.1e}; allowed {factor:g}x); {where}. Largest move: "
        f"{point} {steps[big]}, {now[big] - record['losses'][big]:+.4f}")


def _epoch_starting_in(index: int, steps: Sequence[int], total: int, epochs: int) -> int | None:
    """The epoch (2, 3, ...) whose first step falls in curve point ``index``, if one does."""
    if epochs < 2 or total % epochs:
        return None
    per_epoch = total // epochs
    low, high = (steps[index - 1] if index else 0) + 1, steps[index]
    for epoch in range(2, epochs + 1):
        if low <= (epoch - 1) * per_epoch + 1 <= high:
            return epoch
    return None


def _paired_eval(result: RunResult, record: dict[str, Any], noise: dict[str, Any], factor: float,
                 scenario: str, out: Comparison, words: Words = RECORD_WORDS) -> None:
    runner, seed = result.config.runner, result.config.seed
    history, stored = result.eval_history, record["eval_history"]
    epochs = []
    moved = None
    for i, (a, b) in enumerate(zip(history, stored)):
        env = noise["eval_loss"][min(i, len(noise["eval_loss"]) - 1)]
        delta = a["eval_loss"] - b["eval_loss"]
        if moved is None and abs(delta) > factor * env:
            moved = (i, delta, env)
        shown = next((k for k in a if k not in ("epoch", "eval_loss") and k in b), None)  # accuracy, perplexity...
        metric = f" {_SHORT.get(shown, shown)} {a[shown]:.3f}/{b[shown]:.3f}" if shown else ""
        epochs.append(f"{i + 1}: loss {a['eval_loss']:.4f}/{b['eval_loss']:.4f}{metric}")
    logits_now, logits_then = result.eval_logits, record["eval_logits"]
    logit_dev = None
    if logits_now and logits_then and len(logits_now) == len(logits_then):
        logit_dev = max(abs(x - y) for ra, rb in zip(logits_now, logits_then) for x, y in zip(ra, rb))
    logit_bad = logit_dev is not None and logit_dev > factor * noise["eval_logits"]
    if logit_dev is not None:
        out.rows.append(Row(scenario, f"fixed-batch eval logits (paired, seed {seed}): max |delta| / noise",
                            0.0, logit_dev / noise["eval_logits"], f"<= {factor:g}",
                            "FAIL" if logit_bad else "ok"))
    if len(history) != len(stored):
        out.failures.append(f"eval ({runner} runner, seed {seed}): {len(history)} evaluations {words.now}, "
                            f"{len(stored)} {words.then}")
    elif moved is not None or logit_bad:
        parts = []
        if moved is not None:
            i, delta, env = moved
            parts.append(f"eval loss left the noise envelope first after epoch {i + 1} ({delta:+.2e} = "
                         f"{abs(delta) / env:.0f}x the envelope {env:.1e})")
        if logit_bad:
            parts.append(f"fixed-batch eval logits moved by up to {logit_dev:.2e} "
                         f"({logit_dev / noise['eval_logits']:.0f}x the envelope)")
        out.failures.append(f"eval ({runner} runner, seed {seed}): " + "; ".join(parts) +
                            f". Per epoch, {words.short}: {'; '.join(epochs)}")


def compare(result: RunResult, baseline: dict[str, Any], scenario: str, k: float | None = None) -> Comparison:
    tolerance = baseline["tolerance"]
    k = float(tolerance["k"] if k is None else k)
    out = Comparison(scenario)
    curve_paired = _paired(result, baseline, scenario, out)
    out.paired_failures = len(out.failures)
    granularity = METRIC_FLIPS * _quantum(result)
    stored_names = metric_names(baseline)
    for metric in [m for m in result.metrics if m not in stored_names] + \
            [m for m in stored_names if m not in result.metrics]:
        where = "the run has no" if metric in stored_names else "the baseline has no"
        out.failures.append(f"{metric}: {where} {metric} (baseline: {', '.join(stored_names)}; run: "
                            f"{', '.join(result.metrics)}): a record of another task's metrics")
    for metric in [m for m in stored_names if m in result.metrics]:
        stats = baseline["metrics"][metric]
        floor = max(tolerance["metric_floor"], granularity * _flip_weight(metric))
        width = half_width(stats["std"], k, floor)
        low, high = stats["mean"] - width, stats["mean"] + width
        now = float(result.metrics[metric])
        if lower_is_better(metric):  # perplexity: worse is higher
            verdict, allowed = ("FAIL" if now > high else "gain" if now < low else "ok"), f"<= {high:.4f}"
            low, high = high, low  # the messages below name the bound that judges
        else:
            verdict, allowed = ("FAIL" if now < low else "gain" if now > high else "ok"), f">= {low:.4f}"
        out.rows.append(Row(scenario, metric, stats["mean"], now, allowed, verdict))
        if stats["mean"] > 0 and low <= 0 and not lower_is_better(metric):  # every result in [0, 1] passes: say so
            out.notes.append(f"{metric} is not checked: the band mean - max(k*std, floor) = "
                             f"{stats['mean']:.4f} - max({k:g}*{stats['std']:.4f}, "
                             f"{tolerance['metric_floor']}) = {low:.4f} reaches 0; expected a smaller "
                             "--finetune-tolerance-k or seeds that agree more (a larger eval split)")
        if verdict == "FAIL":
            sign = "+" if lower_is_better(metric) else "-"
            out.failures.append(f"{metric}: baseline {stats['mean']:.4f} (std {stats['std']:.4f}, "
                                f"{len(stats['values'])} seed(s)), now {now:.4f}, allowed {allowed} "
                                f"(mean {sign} max({k:g}*std, {floor:.4f}))")
        elif verdict == "gain":
            out.notes.append(f"{metric} improved beyond the band: baseline {stats['mean']:.4f}, now "
                             f"{now:.4f} (band edge {high:.4f}); if expected, update the baseline")
    if not curve_paired:
        _curve_band(result, baseline, tolerance, k, scenario, out)
    out.version_changes = version_changes(baseline.get("versions", {}), result.versions)
    return out


def _curve_band(result: RunResult, baseline: dict[str, Any], tolerance: dict[str, Any], k: float,
                scenario: str, out: Comparison) -> None:
    """The seeds' mean curve +/- max(k*std, loss_floor): for runs the paired check cannot pair."""
    curve = baseline["loss_curve"]
    if len(result.losses) < len(curve["steps"]) or downsample(result.losses)[0] != curve["steps"]:
        out.failures.append(f"loss curve: {len(result.losses)} steps now, baseline has points at "
                            f"steps {curve['steps'][:3]}...{curve['steps'][-1:]}: a different schedule")
        return
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
