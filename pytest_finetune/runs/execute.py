"""Run one RunConfig with its runner and task, and package the outcome as a RunResult."""
from __future__ import annotations

import time
from collections import Counter

from pytest_finetune.mrpc.model_files import describe_model
from pytest_finetune.runs.config import RunConfig
from pytest_finetune.runs.progress import Progress, RunProgress, quiet_libraries
from pytest_finetune.runs.result import RunResult
from pytest_finetune.runs import perturb
from pytest_finetune.runs.prepare import fixed_batch_logits, prepare, relative_change, snapshot
from pytest_finetune.runs.runners import Registry
from pytest_finetune.runs import loop, trainer  # noqa: F401  (the built-in runners: their libraries load with this module)


def execute_run(config: RunConfig, cache_dir: str | None = None, progress: Progress | None = None,
                verbose: bool = False, registry: Registry | None = None) -> RunResult:
    """Train ``config`` once. ``progress`` hears the start, every optimizer step, every
    evaluated epoch and the end; the libraries' own warnings and bars stay hidden for the
    run unless ``verbose``. ``registry`` resolves ``config.runner`` and ``config.task``
    (default: the built-in runners and MRPC)."""
    started = time.perf_counter()
    registry = registry or Registry()
    runner, task = registry.runner(config.runner), registry.task(config.task)
    data_source = task.describe_source(config.data)  # before loading: what is described is what trains
    model_source = describe_model(config.model)
    with perturb.threads(config):  # a test hook: a no-op unless config.perturb asks
        with quiet_libraries(verbose):
            prepared = prepare(config, cache_dir, task)
            before = snapshot(prepared.model)
            tracker = RunProgress(config, prepared.optimizer_steps, progress)
            tracker.start()
            train_started = time.perf_counter()
            out = runner.train(prepared, tracker)
            train_time = time.perf_counter() - train_started
            tracker.end()
            eval_logits = fixed_batch_logits(out.model, prepared)
        final = out.history[-1]
        counts = Counter(out.predictions)
        return RunResult(  # inside: hardware_info() records the thread count the run used
            config=config,
            device=prepared.device,
            losses=out.losses,
            learning_rates=out.learning_rates,
            eval_history=out.history,
            metrics={name: float(final[name]) for name in task.metric_names},
            prediction_counts=[counts.get(label, 0) for label in range(task.num_labels)],
            param_delta=relative_change(out.model, before),
            eval_logits=eval_logits,
            train_examples=len(prepared.train),
            wall_time_s=time.perf_counter() - started,
            train_time_s=train_time,
            examples_per_s=len(prepared.train) * config.epochs / train_time,
            data_source=data_source,
            model_source=model_source,
            metric_source=prepared.metric.source,
        )

