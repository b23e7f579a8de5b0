"""The ``finetune_baseline`` fixture: a test's handle on ``baselines.check``.

It only translates: outcomes become test failures, warnings and report events. Results
and verdicts travel to the terminal summary and the JSON report through each test's
``user_properties``, which pytest-xdist carries from workers to the controller.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, Sequence

import pytest

from pytest_finetune.baselines import check as checks
from pytest_finetune.baselines.check import CheckOutcome
from pytest_finetune.baselines.compare import Comparison
from pytest_finetune.baselines.scenario import scenario_name, scenario_of
from pytest_finetune.baselines.store import baseline_path
from pytest_finetune.config.settings import FinetuneSettings
from pytest_finetune.errors import FinetuneError
from pytest_finetune.plugin.failures import one_line_failure
from pytest_finetune.plugin.registrations import registry_of
from pytest_finetune.plugin.run_fixtures import get_run
from pytest_finetune.plugin.stash import run_id_of
from pytest_finetune.report.events import ComparisonEvent, FingerprintEvent, ResultEvent, UpdatedEvent, UsedEvent, as_property
from pytest_finetune.runs.config import RunConfig
from pytest_finetune.runs.result import RunResult
from pytest_finetune.tasks.base import level_of


class BaselineChecker:
    def __init__(self, request: pytest.FixtureRequest, settings: FinetuneSettings) -> None:
        self.request = request
        self.settings = settings
        self.mode = checks.mode_of(settings.update_baselines, settings.record_missing)

    def _emit(self, event: Any) -> None:
        self.request.node.user_properties.append(as_property(event))

    def _create_hint(self, extra: str = "") -> str:
        return (f"; create it with:\n  pytest '{self.request.node.nodeid}' "
                f"--finetune-update-baselines{extra}")

    def check(self, result: RunResult) -> Comparison | None:
        """Fail if ``result`` is below its baseline; in update mode, (re)write the baseline."""
        __tracebackhide__ = True
        if not isinstance(result, RunResult):
            shown = repr(result) if len(repr(result)) <= 60 else repr(result)[:57] + "..."
            pytest.fail(f"finetune_baseline.check: expected the RunResult that finetune_run(...) returns, "
                        f"got {type(result).__name__} {shown}", pytrace=False)
        name = scenario_name(scenario_of(result.config, result.device))
        folder = self.settings.baselines
        self._emit(ResultEvent(name, baseline_path(folder, scenario_of(result.config, result.device)).name,
                               result.to_dict()))
        outcome = self._run(lambda: checks.check_run(
            result, folder, self.settings.tolerance_k, self.mode, more_runs=self._more_runs,
            seeds=self.settings.seeds, writer_id=run_id_of(self.request.config)), " --finetune-seeds 3")
        if outcome.comparison is not None and outcome.compared_with is not None:
            self._emit(ComparisonEvent(name, outcome.compared_with.name, outcome.status == "passed",
                                       [vars(row) for row in outcome.comparison.rows], outcome.record or {},
                                       outcome=outcome.comparison.outcome.value, nodeid=self.request.node.nodeid))
        for text in outcome.notes:
            warnings.warn(f"{name}: {text}", stacklevel=2)
        if outcome.status == "failed":
            rerecord = ""
            if outcome.comparison is not None and outcome.comparison.paired_failures:
                # The anchors' practice: a change keeps failing until someone looks at it;
                # the line says how to accept it when it is expected.
                rerecord = ("\n  if the change is expected (new kernels, another reduction order, other "
                            f"random draws), re-record:\n  pytest '{self.request.node.nodeid}' "
                            "--finetune-update-baselines --finetune-seeds 3")
            pytest.fail(outcome.message + rerecord, pytrace=False)
        return outcome.comparison

    def check_fingerprint(self, model: str, name: str, current: Any,
                          explain: Callable[[Any, Any], str] | None = None, atol: float = 0.0,
                          task: str = "mrpc") -> None:
        """Compare ``current`` with the stored fingerprint ``name`` of this task's and model's
        drift file (``<task>-<model>-fingerprints.json``)."""
        outcome = self._run(lambda: checks.check_fingerprint(
            self.settings.baselines, model, name, current, self.mode, explain, atol, task))
        if outcome.compared_with is not None:  # a task's own fingerprints are named with it in reports
            shown = name if task == "mrpc" else f"{task}/{name}"
            self._emit(FingerprintEvent(shown, outcome.compared_with.name, current, atol,
                                        outcome.status == "failed", outcome.detail, self.request.node.nodeid))
        if outcome.status == "failed":
            pytest.fail(outcome.message, pytrace=False)

    def _run(self, check: Callable[[], CheckOutcome], hint_extra: str = "") -> CheckOutcome:
        try:
            outcome = check()
        except FinetuneError as exc:  # a broken baseline file, a lock folder in the way
            problem = str(exc)  # failed outside the except block: pytest shows it once
        else:
            problem = None
        if problem is not None:
            pytest.fail(problem, pytrace=False)
        if outcome.compared_with is not None:
            self._emit(UsedEvent(outcome.compared_with.name))
        if outcome.written:
            self._emit(UpdatedEvent(**outcome.written))
            self._emit(UsedEvent(outcome.written["file"]))
        if outcome.status == "missing":
            pytest.fail(outcome.message + self._create_hint(hint_extra), pytrace=False)
        return outcome

    def _more_runs(self, configs: Sequence[RunConfig]) -> list[RunResult]:
        """More seeds and the noise probes of an update, through the session's run cache."""
        return [get_run(self.request.config, self.settings, config) for config in configs]


@pytest.fixture
def finetune_baseline(request: pytest.FixtureRequest, finetune_settings: FinetuneSettings) -> BaselineChecker:
    """``finetune_baseline.check(result)``: compare with the stored baseline (or update it
    under ``--finetune-update-baselines``); failures show baseline vs now vs allowed."""
    return BaselineChecker(request, finetune_settings)


class TaskDrift:
    """``finetune_drift.check(task=None)``: a task's drift guards, no training needed."""

    def __init__(self, request: pytest.FixtureRequest, settings: FinetuneSettings, baseline: BaselineChecker) -> None:
        self.request, self.settings, self.baseline = request, settings, baseline

    def check(self, task: Any = None, fingerprints: Sequence[str] | None = None) -> None:
        """The task's drift fingerprints against the stored ones (what ``AutoTokenizer``
        resolved, the tokenized validation split, the first collated batches, the untrained
        model's logits on the first validation rows: ``baselines.fingerprints.task_fingerprints``),
        then the padding properties of those batches on its tokenizer and collator. Every
        drifted fingerprint is reported, not only the first; ``--finetune-update-baselines``
        records them. ``fingerprints``: only these (e.g. leave out ``tokenizer_resolved`` in a
        suite that runs on transformers 4.x and 5.x alike: 5.x renamed the fast tokenizer
        classes, ``BertTokenizerFast`` is ``BertTokenizer`` there)."""
        __tracebackhide__ = True
        from transformers import set_seed

        from pytest_finetune.baselines.fingerprints import task_fingerprints
        from pytest_finetune.baselines.scenario import model_label
        from pytest_finetune.mrpc.modeling import load_tokenizer
        from pytest_finetune.plugin.data_fixtures import load_task_data

        from pytest_finetune.runs.progress import quiet_libraries

        config, settings = self.request.config, self.settings
        with one_line_failure(), quiet_libraries((config.getoption("verbose", 0) or 0) > 0):
            chosen = registry_of(config).task(settings.task if task is None else task)
            model = settings.model if settings.model is not None else getattr(chosen, "default_model", None)
            tokenizer = load_tokenizer(model, trust_remote_code=settings.trust_remote_code)
            ready = chosen.tokenize(load_task_data(config, settings, chosen), tokenizer)
            collator = chosen.collator(tokenizer)
            set_seed(0)  # a classification head is freshly drawn
            built = chosen.load_model(model, trust_remote_code=settings.trust_remote_code)
        failures = []
        for name, value, atol, explain in task_fingerprints(chosen, ready, tokenizer, collator, built):
            if fingerprints is not None and name not in fingerprints:
                continue
            try:
                self.baseline.check_fingerprint(model_label(model), name, value, explain, atol, task=chosen.name)
            except pytest.fail.Exception as exc:
                failures.append(str(exc.msg))
        failures += collation_problems(ready["validation"], collator, tokenizer, level=level_of(chosen))
        if failures:
            pytest.fail("\n".join(failures), pytrace=False)


def collation_problems(split: Any, collator: Any, tokenizer: Any, count: int = 32, level: str = "sequence") -> list[str]:
    """The padding properties (``checks.properties``) on the first ``count`` rows of a task's
    split, batched by 8 through its own collator: one line per broken batch. A token-level
    task's labels are one per token (``check_token_labels``), the rest as for any task."""
    from pytest_finetune.checks.properties import (check_mask_lengths, check_padded_shapes, check_padding_values,
                                                   check_token_labels)

    rows = [dict(row) for row in split.with_format(None).select(range(min(count, len(split))))]
    problems = []
    for start in range(0, len(rows), 8):
        features = rows[start:start + 8]
        batch = collator([dict(f) for f in features])
        inputs = {k: v for k, v in batch.items() if k != "labels"} if level == "token" else batch
        checks = [lambda: check_padded_shapes(inputs, features), lambda: check_padding_values(inputs, features, tokenizer),
                  lambda: check_mask_lengths(inputs, features)]
        if level == "token":
            checks.append(lambda: check_token_labels(batch))
        for check in checks:
            try:
                check()
            except AssertionError as exc:
                problems.append(f"collation of rows {start}..{start + len(features) - 1}: {exc}")
    return problems


@pytest.fixture
def finetune_drift(request: pytest.FixtureRequest, finetune_settings: FinetuneSettings,
                   finetune_baseline: BaselineChecker) -> TaskDrift:
    """``finetune_drift.check(task="mine")``: the task's tokenizer, tokenization, collation and
    untrained logits against their stored fingerprints, and its batches' padding properties
    (default task: the session's)."""
    return TaskDrift(request, finetune_settings, finetune_baseline)
