"""The MRPC metric through ``evaluate``: the Hub's ``glue``/``mrpc`` module when it can run,
the local copy otherwise, and a record of which one ran.

``evaluate.load("glue", "mrpc")`` is what users' own code calls, so it is the metric an
``evaluate`` upgrade can break; using it whenever it is in the local HF cache or the Hub is
reachable makes the guard cover it. Offline with an empty cache (this project's machines),
the local module (``evaluate_modules/glue_mrpc.py``) computes the same two numbers the same
way. ``RunResult.metric_source`` names the one that ran, so results, baselines and reports
say which metric their numbers came from.

The choice is made once per run (``choose_metric``), not per evaluation: the reachability
check opens a connection, and one run must not mix two metrics.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import evaluate

from pytest_finetune.mrpc.sources import hub_reachable

LOCAL_MODULE = Path(__file__).parent / "evaluate_modules" / "glue_mrpc.py"
LOCAL_SOURCE = f"local:{LOCAL_MODULE.name}"
HUB_NAME = ("glue", "mrpc")


@dataclass(frozen=True)
class MetricChoice:
    """Which metric a run uses (``source``, as recorded) and how to get a fresh instance."""

    source: str
    _load: Callable[[], evaluate.EvaluationModule]

    def load(self) -> evaluate.EvaluationModule:
        """A fresh metric object: ``add_batch`` state must not leak between evaluations."""
        return self._load()


def hub_source() -> str:
    return f"evaluate:{'/'.join(HUB_NAME)}@{evaluate.__version__}"


def hub_metric_cached(name: str = HUB_NAME[0]) -> bool:
    """Whether ``evaluate``'s module cache holds the Hub's script ``name`` (default: ``glue``),
    where ``evaluate.load`` keeps it (``<HF_MODULES_CACHE>/evaluate_modules/metrics/
    evaluate-metric--glue/<64-hex hash>/glue.py``) and reuses it offline."""
    folder = (Path(evaluate.config.HF_MODULES_CACHE) / evaluate.config.MODULE_NAME_FOR_DYNAMIC_MODULES
              / "metrics" / f"evaluate-metric--{name}")
    try:
        return any(len(entry.name) == 64 and (entry / f"{name}.py").is_file() for entry in folder.iterdir())
    except OSError:
        return False


def _load_local() -> evaluate.EvaluationModule:
    return evaluate.load(str(LOCAL_MODULE))


def _load_hub() -> evaluate.EvaluationModule:
    return evaluate.load(*HUB_NAME)


LOCAL_METRIC = MetricChoice(LOCAL_SOURCE, _load_local)


def choose_metric() -> MetricChoice:
    """The Hub's module if cached or reachable and it loads; the local module otherwise.

    A Hub module that fails to load (a half-written cache, a connection that drops) falls
    back to the local one: the record then says ``local:``, which is what ran.
    """
    if hub_metric_cached() or hub_reachable():
        try:
            _load_hub()
        except Exception:  # noqa: BLE001 - any failure to fetch or import means: not usable here
            pass
        else:
            return MetricChoice(hub_source(), _load_hub)
    return LOCAL_METRIC
