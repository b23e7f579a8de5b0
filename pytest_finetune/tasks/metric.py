"""Accuracy and F1 of a text classifier through ``evaluate``: the Hub's ``accuracy`` and
``f1`` modules where they can run, the local module otherwise, and a record of which ran.

As for MRPC (``mrpc.metric``): what users' own code calls is ``evaluate.load("accuracy")``
and ``evaluate.load("f1")``, so those run whenever they are in the local HF cache or the
Hub is reachable, and an ``evaluate`` upgrade is guarded too. Two labels: F1 of label id 1;
more: macro-F1 (``f1_macro``), the mean of every label's F1, which a classifier that
ignores a rare label cannot hide behind.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import evaluate

from pytest_finetune.mrpc.metric import MetricChoice, hub_metric_cached
from pytest_finetune.mrpc.sources import hub_reachable

LOCAL_MODULE = Path(__file__).parent / "evaluate_modules" / "text_classification.py"


class _HubPair:
    """``evaluate.load("accuracy")`` and ``evaluate.load("f1")`` behind one add_batch/compute."""

    def __init__(self, average: str) -> None:
        self.average = average
        self.modules = [evaluate.load("accuracy"), evaluate.load("f1")]

    def add_batch(self, predictions: Any, references: Any) -> None:
        for module in self.modules:
            module.add_batch(predictions=predictions, references=references)

    def compute(self, predictions: Any = None, references: Any = None) -> dict[str, float]:
        if predictions is not None:
            self.add_batch(predictions, references)
        accuracy = self.modules[0].compute()["accuracy"]
        if self.average == "binary":
            return {"accuracy": float(accuracy), "f1": float(self.modules[1].compute()["f1"])}
        return {"accuracy": float(accuracy), "f1_macro": float(self.modules[1].compute(average="macro")["f1"])}


def classification_metric(num_labels: int) -> MetricChoice:
    """The Hub's modules if cached or reachable and they load; the local module otherwise."""
    average = "binary" if num_labels == 2 else "macro"
    if (hub_metric_cached("accuracy") and hub_metric_cached("f1")) or hub_reachable():
        try:
            _HubPair(average)
        except Exception:  # noqa: BLE001 - any failure to fetch or import means: not usable here
            pass
        else:
            return MetricChoice(f"evaluate:accuracy+f1{'' if average == 'binary' else '/macro'}"
                                f"@{evaluate.__version__}", lambda: _HubPair(average))
    return MetricChoice(f"local:{LOCAL_MODULE.name}/{average}",
                        lambda: evaluate.load(str(LOCAL_MODULE), config_name=average))
