"""Is the new side *worse*, or only different? Quality judged from several seeds per side.

The same-seed paired check sees any change in a run's numerics, including the many that
do not change quality: a new kernel, a reordered reduction, one more random number drawn
before training. Whether quality moved is a question about distributions, so it is asked
of several seeds per side (MLPerf's reference convergence points ask it the same way): for
each quality signal, a one-sided Welch t-test of "new is worse than old" over the seeds'
final values, at a family-wise ``ALPHA`` split evenly over the signals (Bonferroni), and
the smallest worsening that test would detect with ``POWER`` at the seeds it had (the
minimum detectable effect, MDE). A verdict states both, so "not worse" always comes with
how large a change could have hidden in it.

Signals, each the run's final value: eval loss (on an eval slice larger than the tiny
profile's 32 pairs, where accuracy moves in steps of 0.031), accuracy, F1, and the
training loss averaged over the last epoch's steps (which sees a schedule or optimizer
that stopped training even when a tiny model's eval numbers barely move).

Pure Python plus scipy's t distribution; inputs are RunResult dicts (the JSON form), so
reports, cached seed runs and both environments of an upgrade feed it alike.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

from pytest_finetune.runs.result import metrics_of

ALPHA = 0.05  # family-wise false-alarm rate of one quality comparison (all signals together)
POWER = 0.8  # the MDE is the worsening detected with this probability
TEST_NAME = "one-sided Welch t-test"


@dataclass(frozen=True)
class Signal:
    key: str
    label: str
    higher_is_worse: bool


SIGNALS = (Signal("eval_loss", "eval loss", True), Signal("accuracy", "accuracy", False),
           Signal("f1", "F1", False), Signal("perplexity", "perplexity", True),
           Signal("token_accuracy", "token accuracy", False), Signal("train_loss", "final training loss", True))


def signals_of(result: Mapping[str, Any]) -> dict[str, float]:
    """The quality signals of one run (a RunResult dict): its final values."""
    losses = [float(x) for x in result["losses"]]
    epochs = max(1, int(result["config"].get("epochs", 1)))
    per_epoch = max(1, len(losses) // epochs)
    final = result["eval_history"][-1] if result.get("eval_history") else {}
    metrics = dict(metrics_of(result))
    if "f1_macro" in metrics:  # a task of more than two labels records macro-F1 as its F1
        metrics.setdefault("f1", metrics["f1_macro"])
    values = {key: float(metrics[key]) for key in ("accuracy", "f1", "perplexity", "token_accuracy") if key in metrics}
    values["train_loss"] = statistics.fmean(losses[-per_epoch:]) if losses else math.nan
    if "eval_loss" in final:
        values["eval_loss"] = float(final["eval_loss"])
    return values


@dataclass
class SignalComparison:
    """One signal over the seeds of both sides. ``worsening``: new's mean minus old's, signed
    so that positive means worse; ``p``: the one-sided p-value of "new is worse"."""

    key: str
    label: str
    old: list[float]
    new: list[float]
    worsening: float
    se: float  # standard error of the difference of the means
    p: float
    alpha: float  # this signal's share of ALPHA
    mde: float  # smallest worsening detected with POWER at these seeds and this spread

    @property
    def worse(self) -> bool:
        return self.p < self.alpha

    def delta(self) -> float:
        """new - old in the signal's own direction (accuracy down is negative)."""
        return statistics.fmean(self.new) - statistics.fmean(self.old)

    def line(self) -> str:
        """``eval loss +0.0010 ± 0.0040 over 5 seeds per side, p = 0.41; detectable: >= 0.0100``"""
        sides = (f"{len(self.old)} seeds per side" if len(self.old) == len(self.new)
                 else f"{len(self.old)} / {len(self.new)} seeds")
        word = "worse" if self.worse else "not worse"
        return (f"{self.label} {self.delta():+.4f} ± {self.se:.4f} over {sides}, p {_p(self.p)} "
                f"({word} at α = {self.alpha:.4g}); detectable: {_direction(self)} {self.mde:.4f}")


def _p(p: float) -> str:
    return f"= {p:.2g}" if p >= 0.001 else "< 0.001"


def _direction(signal: SignalComparison) -> str:
    sign = next(s for s in SIGNALS if s.key == signal.key)
    return "a rise of >=" if sign.higher_is_worse else "a drop of >="


def run_label(runner: str, profile: str, task: str = "mrpc") -> str:
    """``trainer/full``, or ``trainer/full on mrpc-lm`` for a task other than MRPC: two tasks
    trained by the same runner and profile are two scenarios, never one."""
    return f"{runner}/{profile}" + ("" if task == "mrpc" else f" on {task}")


@dataclass
class QualityComparison:
    """The seeds of one runner/profile (on one task) on both sides, judged signal by signal."""

    runner: str
    profile: str
    seeds: list[int]
    signals: list[SignalComparison] = field(default_factory=list)
    test: str = TEST_NAME
    alpha: float = ALPHA
    power: float = POWER
    task: str = "mrpc"

    @property
    def key(self) -> tuple[str, str, str]:
        """(runner, profile, task): what was trained, as ``Verdict.escalations`` names it."""
        return self.runner, self.profile, self.task

    @property
    def label(self) -> str:
        return run_label(self.runner, self.profile, self.task)

    @property
    def worse(self) -> list[SignalComparison]:
        return [s for s in self.signals if s.worse]

    def summary(self) -> str:
        head = f"{self.label}, seeds {_seed_range(self.seeds)} on each side"
        if self.worse:
            return f"{head}: quality WORSE: " + "; ".join(s.line() for s in self.worse)
        return f"{head}: quality not worse: " + "; ".join(s.line() for s in self.signals[:1])

    def lines(self) -> list[str]:
        return [s.line() for s in self.signals]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for item, signal in zip(data["signals"], self.signals):
            item["worse"] = signal.worse
        data["worse"] = [s.key for s in self.worse]
        return data


def _seed_range(seeds: Sequence[int]) -> str:
    seeds = sorted(seeds)
    if seeds and seeds == list(range(seeds[0], seeds[0] + len(seeds))) and len(seeds) > 2:
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))


def welch(old: Sequence[float], new: Sequence[float]) -> tuple[float, float]:
    """(standard error of mean(new) - mean(old), Welch-Satterthwaite degrees of freedom)."""
    n1, n2 = len(old), len(new)
    v1 = statistics.variance(old) if n1 > 1 else 0.0
    v2 = statistics.variance(new) if n2 > 1 else 0.0
    a, b = v1 / n1, v2 / n2
    se = math.sqrt(a + b)
    if se == 0.0:
        return 0.0, float(max(1, n1 + n2 - 2))
    denominator = (a * a / (n1 - 1) if n1 > 1 else 0.0) + (b * b / (n2 - 1) if n2 > 1 else 0.0)
    df = (a + b) ** 2 / denominator if denominator else float(max(1, n1 + n2 - 2))
    return se, df


def minimum_detectable_effect(se: float, df: float, alpha: float, power: float = POWER) -> float:
    """The worsening a one-sided t-test at ``alpha`` detects with probability ``power``."""
    from scipy.stats import t

    return (float(t.ppf(1 - alpha, df)) + float(t.ppf(power, df))) * se


def mde_for_seeds(n: int, std: float, alpha: float, power: float = POWER) -> float:
    """The MDE with ``n`` seeds per side and per-seed spread ``std`` on both sides: the
    power curve ``benchmarks/seed_power.py`` tabulates to choose the number of seeds."""
    se = std * math.sqrt(2.0 / n)
    return minimum_detectable_effect(se, 2 * n - 2, alpha, power)


def compare_signal(signal: Signal, old: Sequence[float], new: Sequence[float], alpha: float,
                   power: float = POWER) -> SignalComparison:
    from scipy.stats import t

    worsening = statistics.fmean(new) - statistics.fmean(old)
    if not signal.higher_is_worse:
        worsening = -worsening
    se, df = welch(old, new)
    if se == 0.0:  # every seed gave the same value on both sides: the difference is exact
        p = 0.0 if worsening > 0 else 1.0
    else:
        p = float(t.sf(worsening / se, df))
    return SignalComparison(signal.key, signal.label, list(old), list(new), worsening, se, p, alpha,
                            minimum_detectable_effect(se, df, alpha, power) if se else 0.0)


def compare_quality(runner: str, profile: str, old: Sequence[Mapping[str, Any]],
                    new: Sequence[Mapping[str, Any]], alpha: float = ALPHA,
                    power: float = POWER, task: str = "mrpc") -> QualityComparison:
    """Judge new's seeds against old's (RunResult dicts, the same seeds on each side)."""
    if len(old) < 2 or len(new) < 2:
        raise ValueError(f"a quality comparison needs at least 2 seeds per side, got {len(old)} and {len(new)}")
    old_values, new_values = [signals_of(r) for r in old], [signals_of(r) for r in new]
    present = [s for s in SIGNALS if all(s.key in v for v in old_values + new_values)]
    share = alpha / len(present)  # Bonferroni: the family of signals keeps ALPHA
    seeds = sorted({int(r["config"]["seed"]) for r in old})
    out = QualityComparison(runner, profile, seeds, alpha=alpha, power=power, task=task)
    for signal in present:
        out.signals.append(compare_signal(signal, [v[signal.key] for v in old_values],
                                          [v[signal.key] for v in new_values], share, power))
    return out
