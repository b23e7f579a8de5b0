"""The MRPC metric through ``evaluate``, offline by default.

The Hub's ``glue``/``mrpc`` metric is used only when asked for and reachable; the local
module gives identical numbers (tested against the formulas GLUE uses).
"""
from __future__ import annotations

from pathlib import Path

import evaluate

from pytest_finetune.mrpc.sources import hub_reachable

LOCAL_MODULE = Path(__file__).parent / "evaluate_modules" / "glue_mrpc.py"


def load_metric(prefer_hub: bool = False) -> evaluate.EvaluationModule:
    """A fresh metric object: ``add_batch`` state must not leak between runs."""
    if prefer_hub and hub_reachable():
        return evaluate.load("glue", "mrpc")
    return evaluate.load(str(LOCAL_MODULE))
