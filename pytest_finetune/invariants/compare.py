"""Two runs that must train the same, compared step by step against the measured noise.

Pure functions over ``RunResult``s, as TRL's invariant comparisons are: ``compare_runs``
returns rows (every signal, with how far it moved in units of its noise envelope) and the
divergences, first in training order first; nothing here trains or imports pytest.

What is compared, and against what (the envelope is ``invariant_envelope``: the reference
run's own noise probes, ``baselines.compare.measure_noise``):

- the number of optimizer steps and each step's learning rate (exactly, to 1e-9 relative:
  both are counted, not computed with rounding);
- each step's training loss (every step up to 100 steps, bucket means beyond, as the paired
  baseline check stores them), against the per-step loss envelope;
- each evaluation's eval loss, against the per-epoch eval-loss envelope;
- the fixed-batch outputs (a classifier's logits on the first eval examples), against the
  outputs envelope;
- the final metrics: a classifier's may move by two eval predictions (a logit at the
  decision boundary may flip under rounding-level noise), any metric by ``factor`` times what
  the probes moved it, and never by less than one float32 ulp of its value.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

from pytest_finetune.baselines.compare import METRIC_FLIPS, measure_noise, ulp32
from pytest_finetune.baselines.store import seed_record
from pytest_finetune.runs.result import RunResult

LR_TOLERANCE = 1e-9  # relative: learning rates are counted, not rounded


@dataclass
class Row:
    """One signal: the largest move (variant vs reference) in units of its envelope."""

    signal: str
    worst: float  # max |variant - reference| / envelope (for steps and rates: 0 or inf)
    allowed: float
    first: int | None = None  # first step (or epoch) beyond it

    @property
    def ok(self) -> bool:
        return self.worst <= self.allowed


@dataclass
class Comparison:
    rows: list[Row] = field(default_factory=list)
    divergences: list[dict[str, Any]] = field(default_factory=list)  # in training order

    @property
    def holds(self) -> bool:
        return not self.divergences

    @property
    def first(self) -> dict[str, Any] | None:
        return self.divergences[0] if self.divergences else None


def invariant_envelope(reference: RunResult, probes: Sequence[RunResult]) -> dict[str, Any]:
    """The numerical-noise envelope of ``reference``: per step, per epoch and for the outputs,
    how far its own noise probes (another thread count, every initial weight one ulp up) moved
    it, as a running maximum and never below one float32 ulp (``measure_noise``)."""
    return measure_noise(reference, probes)


def _ratio(variant: float, reference: float) -> float:
    return variant / reference if reference else math.inf if variant else 1.0


def _steps(reference: RunResult, variant: RunResult, out: Comparison) -> bool:
    same = len(variant.losses) == len(reference.losses)
    out.rows.append(Row("optimizer steps", 0.0 if same else math.inf, 0.0))
    if not same:
        out.divergences.append({"signal": "steps", "step": min(len(variant.losses), len(reference.losses)) + 1,
                                "reference": len(reference.losses), "variant": len(variant.losses)})
    return same


def _learning_rates(reference: RunResult, variant: RunResult, out: Comparison) -> dict[str, Any] | None:
    for step, (a, b) in enumerate(zip(variant.learning_rates, reference.learning_rates), start=1):
        if abs(a - b) > LR_TOLERANCE * max(abs(a), abs(b), 1e-12):
            out.rows.append(Row("learning rate", math.inf, 0.0, step))
            return {"signal": "learning rate", "step": step, "reference": b, "variant": a, "ratio": _ratio(a, b)}
    out.rows.append(Row("learning rate", 0.0, 0.0))
    return None


def _losses(reference: dict[str, Any], variant: dict[str, Any], envelope: dict[str, Any],
            factor: float, out: Comparison) -> dict[str, Any] | None:
    ratios = [abs(a - b) / e for a, b, e in zip(variant["losses"], reference["losses"], envelope["loss_curve"])]
    first = next((i for i, r in enumerate(ratios) if r > factor), None)
    step = None if first is None else reference["loss_steps"][first]
    out.rows.append(Row("training loss per step", max(ratios, default=0.0), factor, step))
    if first is None:
        return None
    a, b = variant["losses"][first], reference["losses"][first]
    return {"signal": "loss", "step": step, "reference": b, "variant": a, "ratio": _ratio(a, b),
            "envelope": envelope["loss_curve"][first], "times": ratios[first], "step1_times": ratios[0],
            "per_step": reference["loss_steps"] == list(range(1, len(reference["loss_steps"]) + 1))}


def _eval(reference: RunResult, variant: RunResult, envelope: dict[str, Any], factor: float,
          out: Comparison) -> list[dict[str, Any]]:
    found = []
    if len(variant.eval_history) != len(reference.eval_history):
        out.rows.append(Row("evaluations", math.inf, 0.0))
        return [{"signal": "evaluations", "step": None, "reference": len(reference.eval_history),
                 "variant": len(variant.eval_history)}]
    ratios = []
    for i, (a, b) in enumerate(zip(variant.eval_history, reference.eval_history)):
        env = envelope["eval_loss"][min(i, len(envelope["eval_loss"]) - 1)]
        ratios.append(abs(a["eval_loss"] - b["eval_loss"]) / env)
        if ratios[-1] > factor and not any(d["signal"] == "eval loss" for d in found):
            found.append({"signal": "eval loss", "step": i + 1, "reference": b["eval_loss"], "variant": a["eval_loss"],
                          "ratio": _ratio(a["eval_loss"], b["eval_loss"]), "envelope": env, "times": ratios[-1]})
    out.rows.append(Row("eval loss per epoch", max(ratios, default=0.0), factor,
                        found[0]["step"] if found else None))
    if variant.eval_logits and reference.eval_logits and len(variant.eval_logits) == len(reference.eval_logits):
        moved = max(abs(x - y) for ra, rb in zip(variant.eval_logits, reference.eval_logits) for x, y in zip(ra, rb))
        times = moved / envelope["eval_logits"]
        out.rows.append(Row("fixed-batch outputs", times, factor))
        if times > factor:
            found.append({"signal": "outputs", "step": None, "moved": moved, "envelope": envelope["eval_logits"],
                          "times": times})
    return found


def _metrics(reference: RunResult, variant: RunResult, envelope: dict[str, Any], factor: float,
             out: Comparison) -> list[dict[str, Any]]:
    found = []
    predictions = sum(reference.prediction_counts)
    for name, then in reference.metrics.items():
        if name not in variant.metrics:
            continue
        now, measured = float(variant.metrics[name]), float(envelope.get(name, 0.0))
        flips = METRIC_FLIPS * (2 if name.startswith("f1") else 1) / predictions if predictions else 0.0
        allowed = max(factor * measured, flips, factor * ulp32(then))
        out.rows.append(Row(f"metric {name}", abs(now - then) / allowed if allowed else 0.0, 1.0))
        if abs(now - then) > allowed:
            found.append({"signal": f"metric {name}", "step": None, "reference": then, "variant": now,
                          "ratio": _ratio(now, then), "allowed": allowed})
    return found


def compare_runs(reference: RunResult, variant: RunResult, envelope: dict[str, Any], factor: float) -> Comparison:
    """``variant`` against ``reference``, signal by signal; the divergences in training order
    (steps, then the first step whose learning rate or loss left its envelope, then the
    evaluation, outputs and metrics)."""
    out = Comparison()
    if not _steps(reference, variant, out):
        return out
    training = [d for d in (_learning_rates(reference, variant, out),
                            _losses(seed_record(reference), seed_record(variant), envelope, factor, out)) if d]
    out.divergences += sorted(training, key=lambda d: (d["step"], d["signal"] != "learning rate"))
    out.divergences += _eval(reference, variant, envelope, factor, out) + \
        _metrics(reference, variant, envelope, factor, out)
    signals = {d["signal"] for d in out.divergences}
    for found in out.divergences:  # the eval loss alone moved: how it is averaged, not the model
        found["only_eval_loss"] = signals == {"eval loss"}
    return out
