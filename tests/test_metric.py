"""The GLUE/MRPC metric: evaluate's own module when cached or reachable, the local one
otherwise, and the one that ran recorded in results and reports.

Offline, only the local module can run here: the choice is tested with the cache and
reachability checks replaced (and evaluate's loader replaced by a stand-in that records it
was asked for glue/mrpc), never by touching the network.
"""
from __future__ import annotations

import evaluate
import numpy as np
import pytest
from sklearn.metrics import f1_score

from pytest_finetune.mrpc import metric
from pytest_finetune.report.events import ResultEvent, as_property
from pytest_finetune.report.session import SessionReport
from pytest_finetune.runs import RunResult, profile_config


def test_local_module_computes_glue_accuracy_and_f1():
    preds, refs = np.array([1, 0, 1, 1, 0, 1]), np.array([1, 1, 1, 0, 0, 1])
    got = metric.LOCAL_METRIC.load().compute(predictions=preds, references=refs)
    assert got == {"accuracy": float((preds == refs).mean()), "f1": float(f1_score(refs, preds))}


@pytest.fixture
def hub_loads(monkeypatch):
    """evaluate's loader for glue/mrpc, replaced by the local module; records each call."""
    calls: list[str] = []

    def fake_hub_load():
        calls.append("glue/mrpc")
        return metric.LOCAL_METRIC.load()

    monkeypatch.setattr(metric, "_load_hub", fake_hub_load)
    return calls


@pytest.mark.parametrize("cached, reachable", [(True, False), (False, True), (True, True)])
def test_evaluates_own_module_when_cached_or_reachable(monkeypatch, hub_loads, cached, reachable):
    monkeypatch.setattr(metric, "hub_metric_cached", lambda: cached)
    monkeypatch.setattr(metric, "hub_reachable", lambda: reachable)
    choice = metric.choose_metric()
    assert choice.source == f"evaluate:glue/mrpc@{evaluate.__version__}"
    choice.load()
    assert hub_loads == ["glue/mrpc", "glue/mrpc"]  # tried once when choosing, then per evaluation


def test_local_module_when_neither_cached_nor_reachable(monkeypatch, hub_loads):
    monkeypatch.setattr(metric, "hub_metric_cached", lambda: False)
    monkeypatch.setattr(metric, "hub_reachable", lambda: False)
    assert metric.choose_metric().source == "local:glue_mrpc.py"
    assert hub_loads == []


def test_hub_module_that_fails_to_load_falls_back_to_local(monkeypatch):
    def broken():
        raise FileNotFoundError("Couldn't find a module script")

    monkeypatch.setattr(metric, "hub_metric_cached", lambda: True)
    monkeypatch.setattr(metric, "_load_hub", broken)
    assert metric.choose_metric().source == "local:glue_mrpc.py"


def test_cache_check_reads_evaluates_module_cache_layout(monkeypatch, tmp_path):
    monkeypatch.setattr(evaluate.config, "HF_MODULES_CACHE", tmp_path)
    assert not metric.hub_metric_cached()  # no folder at all
    folder = tmp_path / "evaluate_modules" / "metrics" / "evaluate-metric--glue" / ("ab" * 32)
    folder.mkdir(parents=True)
    assert not metric.hub_metric_cached()  # a hash folder without its script
    (folder / "glue.py").write_text("# evaluate's copy of the Hub script\n")
    assert metric.hub_metric_cached()


def test_real_offline_choice_is_the_local_module(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(metric, "hub_metric_cached", lambda: False)
    assert metric.choose_metric() is metric.LOCAL_METRIC


def _result(**extra) -> RunResult:
    return RunResult(config=profile_config("tiny", data="hub"), device="cpu", losses=[0.7, 0.5],
                     learning_rates=[2e-4, 1e-4], eval_history=[{"epoch": 1.0, "accuracy": 0.5, "f1": 0.6}],
                     accuracy=0.5, f1=0.6, prediction_counts=[16, 16], param_delta=0.01, train_examples=32,
                     wall_time_s=1.0, train_time_s=1.0, examples_per_s=32.0, versions={"evaluate": "0.4.6"},
                     hardware={"machine": "x86_64"}, **extra)


def test_metric_source_is_recorded_and_old_records_still_load():
    stored = _result(metric_source="local:glue_mrpc.py").to_dict()
    assert stored["metric_source"] == "local:glue_mrpc.py"
    assert RunResult.from_dict(stored).metric_source == "local:glue_mrpc.py"
    old = {key: value for key, value in stored.items() if key != "metric_source"}  # before it was recorded
    assert RunResult.from_dict(old).metric_source is None


def test_session_report_names_the_metric_that_ran():
    report = SessionReport()
    assert report.metric_lines() == []
    for name, source in (("a", "local:glue_mrpc.py"), ("b", "evaluate:glue/mrpc@0.4.6"), ("c", None)):
        report.add([as_property(ResultEvent(name, f"{name}.json", _result(metric_source=source).to_dict()))])
    assert report.metric_lines() == ["metric: evaluate:glue/mrpc@0.4.6, local:glue_mrpc.py, not recorded"]
    assert report.results["a"]["metric_source"] == "local:glue_mrpc.py"  # what the JSON report holds
