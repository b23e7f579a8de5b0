"""The HF course's manual training loop, driven by accelerate.

Kept as close to the course (chapter 3) and accelerate's ``nlp_example.py`` as the harness
allows: the only additions are recording the loss curve, stopping on a non-finite loss,
and gradient accumulation through ``accelerator.accumulate``.
"""
from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any, Iterator

import torch
from accelerate import Accelerator, DataLoaderConfiguration
from accelerate.state import AcceleratorState, GradientState
from torch.utils.data import DataLoader
from transformers import get_scheduler
from transformers.trainer_pt_utils import LengthGroupedSampler

from pytest_finetune.errors import NonFiniteLossError
from pytest_finetune.mrpc.metric import MetricChoice
from pytest_finetune.mrpc.preprocessing import example_lengths
from pytest_finetune.runs import perturb
from pytest_finetune.runs.prepare import Prepared
from pytest_finetune.runs.progress import RunProgress
from pytest_finetune.runs.resume import first_fetched_then_restored, mean_over_processes, save_rng_states
from pytest_finetune.runs.result import RunnerOutput
from pytest_finetune.tasks.base import TOKEN, level_of, token_eval_loss


def evaluate_model(model, dataloader, accelerator, choice: MetricChoice, task: Any = None,
                   device: Any = None) -> tuple[dict[str, float], list[int]]:
    """The task's metrics through ``evaluate``'s ``add_batch``, plus eval loss and predictions.

    ``accelerator``: gathers across processes (None: one process, batches moved to ``device``);
    ``task``: what the logits become (``tasks.base``): predicted labels by ``task.predictions``
    (default: argmax), or, for a token-level task, its ``eval_statistics`` rows, whose
    token-weighted mean is then the eval loss. A classification task's eval loss is the mean
    over examples (each batch's mean weighted by its size, gathered from every process).
    """
    metric = choice.load()
    per_token = level_of(task) == TOKEN
    predict = getattr(task, "predictions", None) or (lambda logits: logits.argmax(dim=-1))
    gather = accelerator.gather_for_metrics if accelerator is not None else (lambda value: value)
    model.eval()
    loss_sum, count, predictions, statistics = 0.0, 0, [], []
    for batch in dataloader:
        if device is not None:
            batch = {key: value.to(device) for key, value in batch.items()}
        with torch.inference_mode():
            outputs = model(**batch)
        if per_token:
            rows = gather(task.eval_statistics(outputs.logits, batch["labels"]))
            metric.add_batch(predictions=rows, references=torch.zeros(len(rows)))
            statistics.append(rows.double().cpu())
            continue
        preds, refs = gather((predict(outputs.logits), batch["labels"]))
        losses = gather(outputs.loss.detach().float().repeat(len(batch["labels"])))
        metric.add_batch(predictions=preds, references=refs)
        loss_sum += float(losses.double().sum())
        count += len(losses)
        predictions.extend(preds.tolist())
    eval_loss = token_eval_loss(torch.cat(statistics)) if per_token else loss_sum / count
    return {**metric.compute(), "eval_loss": eval_loss}, predictions


def train_order(prepared: Prepared) -> dict:
    """Shuffled, or (``group_by_length``) Trainer's length-grouped sampler over the same batches.

    The grouped sampler draws from its own seeded generator, so the order depends only on the
    seed, not on how much of the global RNG model loading or dropout consumed.
    """
    config = prepared.config
    if not config.group_by_length:
        return dict(shuffle=True)
    generator = torch.Generator().manual_seed(config.seed)
    return dict(sampler=LengthGroupedSampler(config.batch_size * config.grad_accum,
                                             lengths=example_lengths(prepared.train),
                                             generator=generator))


def fresh_accelerate_state() -> None:
    """Forget the previous run's accelerate settings (precision, device, accumulation).

    accelerate keeps them process-wide: a second ``Accelerator`` with another
    ``mixed_precision`` raises "AcceleratorState has already been initialized", and one with
    another ``cpu`` silently keeps the first run's device. A pytest session trains many
    configurations in one process, so each loop run starts from a clean state, as
    ``TrainingArguments`` does for the Trainer (``_reset_state`` has this form from
    accelerate 1.0 to 1.15).
    """
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


class CourseLoop:
    """The built-in ``loop`` runner (``Runner`` protocol): the course's loop below."""

    name, kind, source = "loop", "loop", None

    def train(self, prepared: Prepared, progress: RunProgress) -> RunnerOutput:
        return train_loop(prepared, progress)

    def __repr__(self) -> str:
        return "CourseLoop()"


def train_loop(prepared: Prepared, progress: RunProgress | None = None) -> RunnerOutput:
    """The course's loop, with two additions a fine-tuning team's loop needs:

    - a token-level task (``tasks.base``, e.g. a causal LM) is normalized as accelerate's guide
      to gradient accumulation on samples of variable size does it: the loss of each
      micro-batch is its token sum over the predicted tokens of the whole accumulated batch,
      counted on every process (``num_items_in_batch``), times the processes (DDP averages the
      gradients) and the accumulation steps (``accelerator.backward`` divides by them); a
      mean per micro-batch would weigh the tokens of short batches more;
    - checkpoint and resume (``prepared.checkpoint``, ``runs.resume``) through accelerate's
      ``save_state`` / ``load_state``.

    The micro-batches of one optimizer step are taken together (the token count needs them
    all before the first backward), so gradient synchronisation is skipped by hand
    (``no_sync``) for all but the last, which is what ``accelerator.accumulate`` does.
    """
    config, checkpoint = prepared.config, prepared.checkpoint
    progress = progress or RunProgress(config, prepared.optimizer_steps)
    fresh_accelerate_state()
    accelerator = Accelerator(
        cpu=prepared.device == "cpu",
        mixed_precision=config.precision,
        gradient_accumulation_steps=config.grad_accum,
        # The seedable sampler shuffles exactly as Trainer's does (seed + epoch).
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
    )
    train_dl = DataLoader(prepared.train, batch_size=config.batch_size, collate_fn=prepared.collator,
                          **train_order(prepared))
    eval_dl = DataLoader(prepared.eval, batch_size=config.eval_batch_size, collate_fn=prepared.collator)
    optimizer = torch.optim.AdamW(prepared.model.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    perturb.optimizer(config, optimizer)  # test hook: a no-op unless config.perturb asks
    # accelerate steps a prepared scheduler once per process for each optimizer step (it
    # expects the schedule to be counted in one process' batches, as the course counts it).
    per_step = accelerator.num_processes
    lr_scheduler = get_scheduler("linear", optimizer=optimizer,
                                 num_warmup_steps=prepared.warmup_steps() * per_step,
                                 num_training_steps=prepared.optimizer_steps * per_step)
    model, optimizer, train_dl, eval_dl, lr_scheduler = accelerator.prepare(
        prepared.model, optimizer, train_dl, eval_dl, lr_scheduler)
    start = checkpoint.resumed_from if checkpoint is not None and checkpoint.resume else 0
    inside = start % prepared.steps_per_epoch  # steps of the first epoch done before the checkpoint
    states = None
    if start:
        folder = Path(checkpoint.folder) / "accelerate"
        checkpoint.forget_rng(folder, "random_states_*.pkl")  # a test hook; a no-op unless asked
        accelerator.load_state(str(folder))
        states = save_rng_states() if inside else None  # restored again once the epoch's iterator starts

    token_level = level_of(prepared.task) == TOKEN
    losses, learning_rates, history, predictions = [], [], [], []
    perturb.rng(config)  # test hook: a no-op unless config.perturb asks
    for epoch in range(start // prepared.steps_per_epoch, config.epochs):
        model.train()
        train_dl.set_epoch(epoch)
        batches, skip = train_dl, 0
        if inside and epoch == start // prepared.steps_per_epoch:
            batches, skip = first_fetched_then_restored(train_dl, states), inside * config.grad_accum
        for window in _windows(batches, config.grad_accum, skip):
            items = _predicted_tokens(window, accelerator) if token_level else None
            step_loss = 0.0
            for index, batch in enumerate(window):
                last = index == len(window) - 1
                with contextlib.nullcontext() if last else accelerator.no_sync(model):
                    if token_level:
                        outputs = model(**batch, num_items_in_batch=items)
                        loss = outputs.loss * config.grad_accum * accelerator.num_processes
                    else:
                        outputs = model(**batch)
                        loss = outputs.loss
                    accelerator.backward(loss)
                step_loss += loss.detach() / config.grad_accum
            if config.max_grad_norm:
                accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            lr = lr_scheduler.get_last_lr()[0]
            optimizer.step()
            lr_scheduler.step()
            optimizer.zero_grad()
            loss = mean_over_processes(float(step_loss))  # one host sync per optimizer step: the loss curve
            if not math.isfinite(loss):
                lengths = window[-1]["attention_mask"].sum(dim=1).tolist()
                raise NonFiniteLossError(
                    f"{config.runner} run stopped: loss is {loss} at step {start + len(losses) + 1} "
                    f"(lr {lr:.3g}, batch lengths {lengths})")
            losses.append(loss)
            learning_rates.append(lr)
            progress.step(loss)
            if checkpoint is not None and checkpoint.save_at == start + len(losses) \
                    and checkpoint.save_at % prepared.steps_per_epoch:  # inside an epoch: now
                break
        else:
            metrics, predictions = evaluate_model(model, eval_dl, accelerator, prepared.metric, prepared.task)
            history.append({"epoch": float(epoch + 1), **metrics})
            progress.epoch(metrics)
        if checkpoint is not None and checkpoint.save_at == start + len(losses):  # (at an epoch's end: evaluated)
            accelerator.save_state(str(Path(checkpoint.folder) / "accelerate"))
            break
    return RunnerOutput(losses=losses, learning_rates=learning_rates, history=history,
                        predictions=predictions, model=accelerator.unwrap_model(model))


def _windows(dataloader: Any, size: int, skip: int = 0) -> Iterator[list[Any]]:
    """The micro-batches of each optimizer step (the last window of an epoch may be short),
    after dropping the first ``skip`` (those a resumed run did before its checkpoint)."""
    window: list[Any] = []
    for index, batch in enumerate(dataloader):
        if index < skip:
            continue
        window.append(batch)
        if len(window) == size:
            yield window
            window = []
    if window:
        yield window


def _predicted_tokens(window: list[Any], accelerator: Accelerator) -> Any:
    """How many tokens the accumulated batch predicts on all processes: labels not ``-100``
    after the shift a causal LM's loss makes (position 0 predicts nothing)."""
    local = sum(batch["labels"][..., 1:].ne(-100).sum() for batch in window)
    return accelerator.gather(local.reshape(1)).sum()
