"""Assertions whose failure messages carry the numbers a reviewer needs."""
from __future__ import annotations

import math
from typing import Mapping, Sequence

from pytest_finetune.config.options import finite_number
from pytest_finetune.errors import ConfigError
from pytest_finetune.runs.result import RunResult

INPUT_KEYS = ("input_ids", "token_type_ids", "attention_mask")


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def assert_loss_decreases(losses: Sequence[float] | RunResult, window: int | None = None,
                          min_relative_drop: float = 0.1) -> None:
    """The mean of the last window is below the first window's mean by a margin.

    Windows (a quarter of the curve by default), not two points: a single noisy step can
    be lower or higher than its neighbours by more than training moves it.
    """
    if not 0 <= finite_number("assert_loss_decreases(min_relative_drop=...)", min_relative_drop, 0) < 1:
        raise ConfigError(f"assert_loss_decreases(min_relative_drop=...): expected a number in [0, 1), "
                         f"got {min_relative_drop!r}")
    if isinstance(losses, RunResult):
        losses = losses.losses
    losses = list(losses)
    window = window or max(2, len(losses) // 4)
    if len(losses) < 2 * window:
        raise AssertionError(f"loss curve has {len(losses)} steps; need at least {2 * window} "
                             f"for two windows of {window}")
    bad = [i for i, value in enumerate(losses) if not math.isfinite(value)]
    if bad:
        raise AssertionError(f"loss is not finite at step(s) {bad[:5]}")
    first, last = _mean(losses[:window]), _mean(losses[-window:])
    if not last < first * (1 - min_relative_drop):
        raise AssertionError(
            f"loss did not decrease: mean of first {window} steps {first:.4f}, of last {window} "
            f"steps {last:.4f} (needed below {first * (1 - min_relative_drop):.4f}, a "
            f"{min_relative_drop:.0%} drop)")


REQUIRED_INPUT_KEYS = ("input_ids", "attention_mask")


def assert_collated_shapes(batch: Mapping, batch_size: int, seq_len: int,
                           keys: Sequence[str] | None = None, label_key: str | None = "labels") -> None:
    """Every input tensor is (batch_size, seq_len); labels are (batch_size,).

    ``keys`` default: ``input_ids`` and ``attention_mask`` must be there, and
    ``token_type_ids`` must have the shape when the tokenizer made them (DistilBERT's and
    RoBERTa's do not; ``check_segments`` catches them dropped from a BERT batch).
    """
    if keys is None:
        keys = [key for key in INPUT_KEYS if key in REQUIRED_INPUT_KEYS or key in batch]
    problems = []
    for key in keys:
        if key not in batch:
            problems.append(f"{key}: missing (batch has {sorted(batch)})")
        elif tuple(batch[key].shape) != (batch_size, seq_len):
            problems.append(f"{key}: shape {tuple(batch[key].shape)}, expected {(batch_size, seq_len)}")
    if label_key is not None:
        if label_key not in batch:
            problems.append(f"{label_key}: missing (batch has {sorted(batch)})")
        elif tuple(batch[label_key].shape) != (batch_size,):
            problems.append(f"{label_key}: shape {tuple(batch[label_key].shape)}, expected {(batch_size,)}")
    if problems:
        raise AssertionError("collated batch has wrong shapes:\n  " + "\n  ".join(problems))


def assert_metrics_close(actual: Mapping[str, float], expected: Mapping[str, float],
                         tolerance: float | Mapping[str, float]) -> None:
    """Each expected metric is within its tolerance; all misses are reported together."""
    misses = []
    for name, want in expected.items():
        tol = tolerance[name] if isinstance(tolerance, Mapping) else tolerance
        # an infinite tolerance passes anything and NaN makes every comparison false: refused
        finite_number(f"assert_metrics_close: tolerance of {name}", tol, minimum=0)
        finite_number(f"assert_metrics_close: expected {name}", want)
        got = actual.get(name)
        if got is None or not abs(got - want) <= tol:
            misses.append(f"{name}: now {got}, expected {want:.4f} +/- {tol:.4f}")
    if misses:
        raise AssertionError("metrics out of tolerance:\n  " + "\n  ".join(misses))


def assert_params_changed(result: RunResult, min_relative_change: float = 1e-4) -> None:
    """Training moved the weights: catches a frozen model or an optimizer never stepped."""
    finite_number("assert_params_changed(min_relative_change=...)", min_relative_change, minimum=0)
    if not result.param_delta > min_relative_change:
        raise AssertionError(
            f"weights barely changed in training: relative L2 change {result.param_delta:.2e}, "
            f"needed > {min_relative_change:.0e} ({result.config.runner}, {len(result.losses)} steps)")


def assert_not_collapsed(result: RunResult | Sequence[int], max_class_fraction: float = 0.95) -> None:
    """Predictions are not (nearly) all one class.

    On MRPC's dev set, always predicting "paraphrase" scores accuracy 0.684 and F1 0.812,
    which passes a naive threshold: this is the check that catches it.
    """
    if not 0 < finite_number("assert_not_collapsed(max_class_fraction=...)", max_class_fraction, 0) <= 1:
        raise ConfigError(f"assert_not_collapsed(max_class_fraction=...): expected a number in (0, 1], "
                         f"got {max_class_fraction!r}")
    counts = result.prediction_counts if isinstance(result, RunResult) else list(result)
    total = sum(counts)
    top = max(range(len(counts)), key=lambda i: counts[i])
    if total == 0 or counts[top] / total > max_class_fraction:
        raise AssertionError(
            f"predictions collapsed: class {top} predicted for {counts[top]} of {total} eval "
            f"examples ({counts[top] / max(total, 1):.1%} > {max_class_fraction:.0%}); a "
            "majority-class model scores accuracy 0.684 / F1 0.812 on MRPC dev")
