"""A user's own training function as a runner: the harness hands it a ``LoopRun``.

::

    def my_loop(run):
        model = run.model
        optimizer = torch.optim.AdamW(model.parameters(), lr=run.lr, weight_decay=run.weight_decay)
        scheduler = get_scheduler("linear", optimizer, run.warmup_steps, run.total_steps)
        for epoch in range(run.epochs):
            model.train()
            for batch in run.train_dataloader:
                loss = model(**batch).loss
                loss.backward()
                optimizer.step(); scheduler.step(); optimizer.zero_grad()
                run.step(loss)          # one optimizer step done, with its loss
            run.evaluate(model)         # the harness evaluates, records and reports the epoch

The function trains however it likes; it tells the harness two things: each optimizer
step's loss (``run.step``) and when to evaluate (``run.evaluate``, which computes the task's
metrics, eval loss and predictions the same way the built-in loop does). The harness does
the rest: seeding, model and data, the learning-rate record, the non-finite-loss stop,
progress lines, the fixed-batch logits, baselines and reports.

**Resume** (the resume invariant, ``RunConfig.resume_at``) needs two more lines: name what a
checkpoint holds besides the model, and start from the epoch the harness says::

        run.checkpointing(optimizer, scheduler)          # restored here when resuming
        for epoch in range(run.start_epoch, run.epochs):
            ...                                          # run.train_dataloader skips what was done

The harness saves the checkpoint inside ``run.step`` at the step it asks for (weights,
optimizer, scheduler, every RNG state) and stops the function there; the resumed function
gets the states back from ``run.checkpointing`` and a ``train_dataloader`` that skips the
batches of the resumed epoch done before the checkpoint.

**Several processes** (the distributed invariant, ``RunConfig.processes``): the function runs
in each process (launched by ``accelerate launch``); ``run.train_dataloader`` is the whole
split, so shard it and synchronise the gradients as a multi-GPU loop does, with accelerate:
``model, optimizer, loader = Accelerator().prepare(run.model, optimizer, run.train_dataloader)``.
``run.step(loss)`` averages the step's loss over the processes.

The learning rate of each step is read from the optimizer the function steps, through
torch's global optimizer hooks (``register_optimizer_step_pre_hook``), registered for the run
only; the same hook applies the run's test hooks (``runs.perturb``: Adam's betas and eps) to
each optimizer before its first step, so a perturbation reaches a user's own optimizer
without the function's cooperation.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator

from pytest_finetune.errors import ConfigError, NonFiniteLossError
from pytest_finetune.runs import perturb
from pytest_finetune.runs.progress import RunProgress
from pytest_finetune.runs.result import RunnerOutput

if TYPE_CHECKING:  # torch and the harness' data loading are imported when a function trains
    import torch

    from pytest_finetune.runs.prepare import Prepared


class EpochSeededSampler:
    """A random order per epoch from ``seed + epoch``: the order accelerate's seedable
    sampler gives the built-in loop and Trainer gives its runs, so a training function fed
    by it sees the built-ins' batches (and a course loop written by hand matches ``loop``)."""

    def __init__(self, size: int, seed: int) -> None:
        self.size, self.seed, self.epoch = size, seed, 0

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[int]:
        import torch

        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        yield from torch.randperm(self.size, generator=generator).tolist()
        self.epoch += 1


class _Stopped(Exception):
    """The first part of a resumed run saved its checkpoint: the function stops here."""


class _ResumedEpoch:
    """``loader`` as the epoch a run resumes inside sees it, the first time it is iterated:
    the checkpoint's RNG states restored once its iterator has started
    (``runs.resume.first_fetched_then_restored``), and without the ``skip`` batches trained
    before the checkpoint. Later epochs are the loader's own."""

    def __init__(self, loader: Any, skip: int, run: "LoopRun") -> None:
        self.loader, self.skip, self.run, self.first = loader, skip, run, True

    def __len__(self) -> int:
        return len(self.loader)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)

    def __iter__(self) -> Iterator[Any]:
        if not self.first:
            yield from self.loader
            return
        from pytest_finetune.runs.resume import first_fetched_then_restored

        self.first = False
        for index, batch in enumerate(first_fetched_then_restored(self.loader, self.run._rng)):
            if index >= self.skip:
                yield batch


class LoopRun:
    """What a training function gets: the run's inputs and hyper-parameters, and where it
    reports. Attributes: ``model``, ``tokenizer``, ``train_dataset``, ``eval_dataset``,
    ``collator``, ``train_dataloader`` (batch ``batch_size``, a new order each epoch from
    ``seed + epoch``: the built-in runners' batches, the same every session), ``eval_dataloader``, ``device``, ``seed``,
    ``epochs``, ``batch_size``, ``grad_accum``, ``lr``, ``weight_decay``, ``warmup_steps``,
    ``total_steps`` (optimizer steps the profile plans), ``max_grad_norm``, ``precision``,
    ``start_epoch`` (0, or the epoch a resumed run starts in), ``config`` (the whole ``RunConfig``)."""

    def __init__(self, prepared: Prepared, progress: RunProgress) -> None:
        from torch.utils.data import DataLoader

        config = prepared.config
        self._prepared, self._progress = prepared, progress
        self.config, self.model, self.tokenizer = config, prepared.model, prepared.tokenizer
        self.train_dataset, self.eval_dataset, self.collator = prepared.train, prepared.eval, prepared.collator
        self.device, self.seed, self.epochs = prepared.device, config.seed, config.epochs
        self.batch_size, self.grad_accum, self.lr = config.batch_size, config.grad_accum, config.lr
        self.weight_decay, self.max_grad_norm, self.precision = config.weight_decay, config.max_grad_norm, config.precision
        self.warmup_steps, self.total_steps = prepared.warmup_steps(), prepared.optimizer_steps
        from pytest_finetune.runs.loop import train_order

        checkpoint = prepared.checkpoint
        self._checkpoint = checkpoint
        self._start = checkpoint.resumed_from if checkpoint is not None and checkpoint.resume else 0
        self.start_epoch = self._start // prepared.steps_per_epoch
        order = train_order(prepared)  # group_by_length: the built-in loop's length-grouped sampler
        sampler = order.get("sampler") or EpochSeededSampler(len(prepared.train), config.seed)
        if isinstance(sampler, EpochSeededSampler):
            sampler.epoch = self.start_epoch
        loader = DataLoader(prepared.train, batch_size=config.batch_size, sampler=sampler,
                            collate_fn=prepared.collator)
        self._steps_per_epoch = prepared.steps_per_epoch
        inside = self._start % prepared.steps_per_epoch
        self.train_dataloader = _ResumedEpoch(loader, inside * config.grad_accum, self) if inside else loader
        self.eval_dataloader = DataLoader(prepared.eval, batch_size=config.eval_batch_size, collate_fn=prepared.collator)
        self.losses: list[float] = []
        self.learning_rates: list[float] = []
        self.history: list[dict[str, float]] = []
        self.predictions: list[int] = []
        self._lr: float | None = None
        self._seen: set[int] = set()
        self._states: tuple[Any, Any] | None = None  # (optimizer, scheduler) a checkpoint holds
        self._rng: dict[str, Any] | None = None  # the checkpoint's RNG states, restored inside an epoch

    def checkpointing(self, optimizer: Any, scheduler: Any = None) -> None:
        """What a checkpoint holds besides ``run.model``: call once, before training. When the
        run resumes, the weights, these states and the RNG states are restored here."""
        self._states = (optimizer, scheduler)
        if self._start:
            import torch

            saved = torch.load(self._file(), weights_only=False)
            self.model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            if scheduler is not None:
                scheduler.load_state_dict(saved["scheduler"])
            if not self._checkpoint.drop_rng:  # a test hook; restored unless asked
                from pytest_finetune.runs.resume import restore_rng_states

                if self._start % self._steps_per_epoch:
                    self._rng = saved["rng"]  # once the resumed epoch's iterator has started
                else:
                    restore_rng_states(saved["rng"])  # at an epoch boundary: before the next epoch

    def _file(self) -> str:
        from pathlib import Path

        return str(Path(self._checkpoint.folder) / "loop-checkpoint.pt")

    def _save_if_asked(self, epoch_done: bool) -> None:
        """Save the checkpoint and stop the function, at the asked step: right after it inside
        an epoch, after the epoch's evaluation at its end (``runs.resume``)."""
        at = self._start + len(self.losses)
        if self._checkpoint is None or self._checkpoint.save_at != at or (at % self._steps_per_epoch == 0) != epoch_done:
            return
        if self._states is None:
            raise self._cannot_resume()
        import torch

        from pytest_finetune.runs.resume import save_rng_states

        optimizer, scheduler = self._states
        torch.save({"model": self.model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": None if scheduler is None else scheduler.state_dict(),
                    "rng": save_rng_states()}, self._file())
        raise _Stopped()

    def _cannot_resume(self) -> ConfigError:
        return ConfigError(f"runner {self.config.runner}: a resumed run needs run.checkpointing(optimizer, "
                           "scheduler) before training and epochs in range(run.start_epoch, run.epochs) "
                           "(see pytest_finetune.runs.user_loop)")

    def step(self, loss: Any) -> None:
        """One optimizer step done; ``loss`` is its training loss (a tensor or a number; on
        several processes, each process' own, averaged here)."""
        from pytest_finetune.runs.resume import mean_over_processes

        if self._start and self._states is None:
            raise self._cannot_resume()
        value = mean_over_processes(float(loss.detach() if hasattr(loss, "detach") else loss))
        if not math.isfinite(value):
            raise NonFiniteLossError(f"{self.config.runner} run stopped: loss is {value} at step "
                                     f"{self._start + len(self.losses) + 1} (lr {self._lr or self.lr:.3g})")
        self.losses.append(value)
        self.learning_rates.append(self._lr if self._lr is not None else self.lr)
        self._progress.step(value)
        self._save_if_asked(epoch_done=False)

    def evaluate(self, model: Any = None) -> dict[str, float]:
        """Evaluate ``model`` (default: ``run.model``) on the eval split as the built-in loop
        does; recorded as the next epoch's evaluation, and returned. The model's train/eval
        mode is put back as it was."""
        from pytest_finetune.runs.loop import evaluate_model

        model = self.model if model is None else model
        training = model.training
        try:
            metrics, self.predictions = evaluate_model(model, self.eval_dataloader, None, self._prepared.metric,
                                                       self._prepared.task, device=self.device)
        finally:
            model.train(training)
        self.history.append({"epoch": float(self.start_epoch + len(self.history) + 1), **metrics})
        self._progress.epoch(metrics)
        self._save_if_asked(epoch_done=True)
        return metrics

    def _before_optimizer_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if id(optimizer) not in self._seen:
            self._seen.add(id(optimizer))
            perturb.optimizer(self.config, optimizer)  # test hook: a no-op unless asked
        self._lr = float(optimizer.param_groups[0]["lr"])


@contextmanager
def _watching_optimizers(run: LoopRun) -> Iterator[None]:
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    handle = register_optimizer_step_pre_hook(run._before_optimizer_step)
    try:
        yield
    finally:
        handle.remove()


class FunctionRunner:
    """A ``Runner`` around a user's training function ``fn(run: LoopRun)``."""

    kind = "loop"

    def __init__(self, name: str, function: Callable[[LoopRun], Any], source: str | None = None) -> None:
        self.name, self.function, self.source = name, function, source

    def __repr__(self) -> str:
        return f"FunctionRunner({self.name!r}, {getattr(self.function, '__qualname__', self.function)})"

    def train(self, prepared: Prepared, progress: RunProgress) -> RunnerOutput:
        run = LoopRun(prepared, progress)
        perturb.rng(prepared.config)  # test hook: just before training; a no-op unless asked
        with _watching_optimizers(run):
            try:
                returned = self.function(run)
            except _Stopped:  # the first part of a resumed run: its checkpoint is saved
                returned = None
        what = getattr(self.function, "__qualname__", self.function)
        if not run.losses:
            raise ConfigError(f"runner {self.name}: {what} reported no optimizer step; call run.step(loss) "
                              "after each optimizer step")
        if not run.history and prepared.checkpoint is None:
            raise ConfigError(f"runner {self.name}: {what} reported no evaluation; call run.evaluate(model) "
                              "after each epoch")
        import torch

        model = returned if isinstance(returned, torch.nn.Module) else prepared.model
        return RunnerOutput(losses=run.losses, learning_rates=run.learning_rates, history=run.history,
                            predictions=run.predictions, model=model)
