"""The HF course's manual training loop, driven by accelerate.

Kept as close to the course (chapter 3) and accelerate's ``nlp_example.py`` as the harness
allows: the only additions are recording the loss curve, stopping on a non-finite loss,
and gradient accumulation through ``accelerator.accumulate``.
"""
from __future__ import annotations

import math
from typing import Any, Callable

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
from pytest_finetune.runs.prepare import EVAL_BATCH_SIZE, Prepared
from pytest_finetune.runs.progress import RunProgress
from pytest_finetune.runs.result import RunnerOutput


def evaluate_model(model, dataloader, accelerator, choice: MetricChoice, predict: Callable[[Any], Any] | None = None,
                   device: Any = None) -> tuple[dict[str, float], list[int]]:
    """The task's metrics through ``evaluate``'s ``add_batch``, plus eval loss and predictions.

    ``accelerator``: gathers across processes (None: one process, batches moved to ``device``);
    ``predict``: the task's logits -> labels (default: argmax).
    """
    metric = choice.load()
    predict = predict or (lambda logits: logits.argmax(dim=-1))
    model.eval()
    loss_sum, count, predictions = 0.0, 0, []
    for batch in dataloader:
        if device is not None:
            batch = {key: value.to(device) for key, value in batch.items()}
        with torch.inference_mode():
            outputs = model(**batch)
        pair = (predict(outputs.logits), batch["labels"])
        preds, refs = accelerator.gather_for_metrics(pair) if accelerator is not None else pair
        metric.add_batch(predictions=preds, references=refs)
        loss_sum += float(outputs.loss) * len(refs)
        count += len(refs)
        predictions.extend(preds.tolist())
    return {**metric.compute(), "eval_loss": loss_sum / count}, predictions


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
    config = prepared.config
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
    eval_dl = DataLoader(prepared.eval, batch_size=EVAL_BATCH_SIZE, collate_fn=prepared.collator)
    optimizer = torch.optim.AdamW(prepared.model.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    perturb.optimizer(config, optimizer)  # test hook: a no-op unless config.perturb asks
    lr_scheduler = get_scheduler("linear", optimizer=optimizer,
                                 num_warmup_steps=prepared.warmup_steps(),
                                 num_training_steps=prepared.optimizer_steps)
    model, optimizer, train_dl, eval_dl, lr_scheduler = accelerator.prepare(
        prepared.model, optimizer, train_dl, eval_dl, lr_scheduler)

    losses, learning_rates, history, predictions = [], [], [], []
    step_loss = 0.0
    perturb.rng(config)  # test hook: a no-op unless config.perturb asks
    for epoch in range(config.epochs):
        model.train()
        for batch in train_dl:
            with accelerator.accumulate(model):
                outputs = model(**batch)
                accelerator.backward(outputs.loss)
                step_loss += outputs.loss.detach() / config.grad_accum
                if accelerator.sync_gradients and config.max_grad_norm:
                    accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                lr = lr_scheduler.get_last_lr()[0]
                optimizer.step()
                lr_scheduler.step()
                optimizer.zero_grad()
            if accelerator.sync_gradients:
                loss = float(step_loss)  # one host sync per optimizer step: the loss curve
                if not math.isfinite(loss):
                    lengths = batch["attention_mask"].sum(dim=1).tolist()
                    raise NonFiniteLossError(
                        f"{config.runner} run stopped: loss is {loss} at step {len(losses) + 1} "
                        f"(lr {lr:.3g}, batch lengths {lengths})")
                losses.append(loss)
                learning_rates.append(lr)
                step_loss = 0.0
                progress.step(loss)
        metrics, predictions = evaluate_model(model, eval_dl, accelerator, prepared.metric, prepared.task.predictions)
        history.append({"epoch": float(epoch + 1), **metrics})
        progress.epoch(metrics)
    return RunnerOutput(losses=losses, learning_rates=learning_rates, history=history,
                        predictions=predictions, model=accelerator.unwrap_model(model))
