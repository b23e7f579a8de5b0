"""Run one RunConfig with its runner and task, and package the outcome as a RunResult."""
from __future__ import annotations

import tempfile
import time
from collections import Counter

from pytest_finetune.errors import ConfigError
from pytest_finetune.mrpc.model_files import describe_model
from pytest_finetune.runs.config import RunConfig
from pytest_finetune.runs.progress import Progress, RunProgress, quiet_libraries
from pytest_finetune.runs.result import RunnerOutput, RunResult
from pytest_finetune.runs import perturb
from pytest_finetune.runs.prepare import Prepared, fixed_batch_logits, prepare, relative_change, snapshot
from pytest_finetune.runs.resume import Checkpoint
from pytest_finetune.runs.runners import Registry, Runner
from pytest_finetune.runs import loop, trainer  # noqa: F401  (the built-in runners: their libraries load with this module)


def execute_run(config: RunConfig, cache_dir: str | None = None, progress: Progress | None = None,
                verbose: bool = False, registry: Registry | None = None) -> RunResult:
    """Train ``config`` once. ``progress`` hears the start, every optimizer step, every
    evaluated epoch and the end; the libraries' own warnings and bars stay hidden for the
    run unless ``verbose``. ``registry`` resolves ``config.runner`` and ``config.task``
    (default: the built-in runners and MRPC). ``config.processes > 1`` launches the run on
    that many processes (``runs.distributed``); ``config.resume_at`` trains it in two parts,
    resumed from a checkpoint (``runs.resume``)."""
    registry = registry or Registry()
    if config.processes > 1 and not _inside_launch(config):
        from pytest_finetune.runs.distributed import launch

        return launch(config, registry, cache_dir, verbose)
    started = time.perf_counter()
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
            if config.resume_at:
                out = _train_resumed(runner, prepared, tracker, cache_dir)
            else:
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


def _inside_launch(config: RunConfig) -> bool:
    """Whether this process is one of the run's launched processes (torchrun or accelerate
    launch set up the process group's environment)."""
    import os

    return os.environ.get("WORLD_SIZE") == str(config.processes)


def _train_resumed(runner: Runner, first: Prepared, progress: RunProgress, cache_dir: str | None) -> RunnerOutput:
    """Train to ``resume_at``, save a checkpoint and stop; then, from a freshly prepared model
    (the seed's initial weights, new optimizer and runner), resume from it and train to the
    end. What both parts recorded, as one run: what the resume invariant compares with the
    uninterrupted run."""
    config = first.config
    if not 0 < config.resume_at < first.optimizer_steps:
        raise ConfigError(f"resume_at: {config.resume_at} is not a step inside the run (1..{first.optimizer_steps - 1})")
    with tempfile.TemporaryDirectory(prefix="pytest-finetune-checkpoint-") as folder:
        drop = perturb.resume_drops_rng(config)
        first.checkpoint = Checkpoint(folder, save_at=config.resume_at)
        head = runner.train(first, progress)
        if len(head.losses) != config.resume_at:
            raise ConfigError(f"runner {config.runner}: asked to stop at step {config.resume_at} for a checkpoint, "
                              f"it trained {len(head.losses)} steps")
        second = prepare(config, cache_dir, first.task)
        second.checkpoint = Checkpoint(folder, resumed_from=config.resume_at, drop_rng=drop)
        tail = runner.train(second, progress)
    return RunnerOutput(losses=head.losses + tail.losses, learning_rates=head.learning_rates + tail.learning_rates,
                        history=head.history + tail.history, predictions=tail.predictions, model=tail.model)
