"""Runs through ``transformers.Trainer``: the stock class, or the user's subclass or factory.

The harness builds ``TrainingArguments`` from the profile (the course's recipe on today's
API: ``eval_strategy``, ``processing_class``, ``torch.optim.AdamW`` via
``optim="adamw_torch"``; keywords that differ between transformers 4.x and 5.x come from
``pytest_finetune.compat``) and gives the trainer class its recording as a mixin,
``HarnessRecording``: the full-precision loss of every optimizer step, the non-finite-loss
stop and the perturbation test hooks. The stock runner is ``Trainer`` with that mixin, so a
user's ``Trainer`` subclass (its own ``compute_loss``, ``training_step`` or optimizer)
records exactly what the stock runner records: the mixin sits first in the class's MRO and
calls through to the user's methods.

Progress goes through a ``TrainerCallback`` to the harness' ``RunProgress`` instead of
Trainer's own tqdm bar and ``PrinterCallback`` (which prints a dict per logged step: with
``logging_steps=1``, every step); the per-step loss stays in ``state.log_history``, where
the learning-rate curve comes from.
"""
from __future__ import annotations

import functools
import inspect
import math
import tempfile
from typing import Any, Callable

import numpy as np
from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments

from pytest_finetune.compat.versions import activation_checkpointing_arguments, length_grouping_arguments
from pytest_finetune.errors import ConfigError, NonFiniteLossError
from pytest_finetune.runs import perturb
from pytest_finetune.runs.prepare import Prepared, checkpointing_kwargs
from pytest_finetune.runs.progress import RunProgress
from pytest_finetune.runs.result import RunnerOutput
from pytest_finetune.runs.resume import mean_over_processes
from pytest_finetune.tasks.base import TOKEN, level_of

# What the harness passes to a Trainer class (or factory) as keywords.
TRAINER_KEYWORDS = ("model", "args", "train_dataset", "eval_dataset", "data_collator", "processing_class",
                    "compute_metrics", "callbacks")


class _StepLosses(TrainerCallback):
    """The training loss of each optimizer step at full precision: the sum of its
    micro-batches' ``training_step`` losses, which is what Trainer logs, except that
    transformers 4.x rounds the logged value to 4 decimals and 5.x does not. The paired
    baseline check compares curves to float32 noise, so both sides must keep every digit."""

    def __init__(self) -> None:
        self.pending: list[float] = []
        self.losses: list[float] = []

    def on_step_end(self, args, state, control, **kwargs):
        self.losses.append(mean_over_processes(sum(self.pending)))
        self.pending.clear()


class _StopAndSave(TrainerCallback):
    """The first part of a resumed run (``RunConfig.resume_at``): at optimizer step ``at``,
    save a checkpoint (Trainer's own: weights, optimizer, scheduler, RNG and trainer state)
    and stop. Inside an epoch it saves right after the step and skips the evaluation Trainer
    would make of the partial epoch (the uninterrupted run has none there); at the end of an
    epoch it saves after that epoch's evaluation, where the uninterrupted run's RNG stands
    when the next epoch starts (``runs.resume``)."""

    def __init__(self, at: int, steps_per_epoch: int) -> None:
        self.at, self.steps_per_epoch = at, steps_per_epoch

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.at:
            control.should_save = bool(self.at % self.steps_per_epoch)
            control.should_training_stop = True

    def on_epoch_end(self, args, state, control, **kwargs):
        if state.global_step == self.at:
            if self.at % self.steps_per_epoch:
                control.should_evaluate = False
            else:
                control.should_save = True  # Trainer evaluates, then saves


class HarnessRecording:
    """The harness' recording, mixed into a ``transformers.Trainer`` class (first in its MRO).

    Adds nothing a user's class must know about: after ``create_optimizer`` it applies the
    run's test hooks (``runs.perturb``; none in a real run), and after each
    ``training_step`` it keeps the micro-batch loss and stops at the first non-finite one,
    naming the step, learning rate and batch lengths.
    """

    step_losses: _StepLosses
    harness_config: Any
    harness_runner: str = "trainer"

    def create_optimizer(self, *args, **kwargs):
        optimizer = super().create_optimizer(*args, **kwargs)  # type: ignore[misc]
        perturb.optimizer(self.harness_config, optimizer)  # test hook: a no-op unless asked
        return optimizer

    def training_step(self, model, inputs, num_items_in_batch=None):
        loss = super().training_step(model, inputs, num_items_in_batch)  # type: ignore[misc]
        value = float(loss)
        self.step_losses.pending.append(value)
        if not math.isfinite(value):
            lengths = inputs["attention_mask"].sum(dim=1).tolist()
            lr = self.lr_scheduler.get_last_lr()[0] if self.lr_scheduler else self.args.learning_rate  # type: ignore[attr-defined]
            raise NonFiniteLossError(
                f"{self.harness_runner} run stopped: loss is {value} at step {self.state.global_step + 1} "  # type: ignore[attr-defined]
                f"(lr {lr:.3g}, batch lengths {lengths})")
        return loss


@functools.lru_cache(maxsize=None)
def recording_class(trainer_class: type) -> type:
    """``trainer_class`` with the harness' recording mixed in (one class per user class)."""
    return type(f"Recording{trainer_class.__name__}", (HarnessRecording, trainer_class),
                {"__module__": trainer_class.__module__, "__qualname__": f"Recording{trainer_class.__qualname__}"})


class _ReportProgress(TrainerCallback):
    """Trainer's logged steps and evaluations, handed to ``RunProgress``. ``on_log`` and
    ``on_evaluate`` have this form from transformers 4.46 to 5.x."""

    def __init__(self, progress: RunProgress, step_losses: _StepLosses, metric_names: tuple[str, ...]) -> None:
        self.progress = progress
        self.step_losses = step_losses
        self.metric_names = metric_names

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:  # a training step's entry (the summary's is "train_loss")
            # The step's full-precision loss (on_step_end ran before this log): 4.x rounds
            # the logged one to 4 decimals.
            self.progress.step(self.step_losses.losses[-1] if self.step_losses.losses else float(logs["loss"]))

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if metrics:
            self.progress.epoch({name: metrics.get(f"eval_{name}") for name in self.metric_names})


def training_arguments(prepared: Prepared, output_dir: str) -> TrainingArguments:
    """The profile's hyper-parameters as ``TrainingArguments``, for transformers 4.x and 5.x."""
    config = prepared.config
    checkpointing = activation_checkpointing_arguments(checkpointing_kwargs(config)) \
        if config.gradient_checkpointing else {}
    return TrainingArguments(
        **checkpointing,
        output_dir=output_dir,
        eval_strategy="epoch",
        save_strategy="no",
        logging_strategy="steps",
        logging_steps=1,
        logging_nan_inf_filter=False,
        report_to="none",
        disable_tqdm=True,  # progress goes to RunProgress
        num_train_epochs=config.epochs,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size,
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.lr,
        weight_decay=config.weight_decay,
        warmup_steps=prepared.warmup_steps(),
        max_grad_norm=config.max_grad_norm,
        lr_scheduler_type="linear",
        optim="adamw_torch",
        seed=config.seed,
        use_cpu=prepared.device == "cpu",
        bf16=config.precision == "bf16",
        fp16=config.precision == "fp16",
        **length_grouping_arguments(config.group_by_length),
        dataloader_num_workers=0,
    )


def missing_keywords(trainer_class: type) -> list[str]:
    """Required ``__init__`` parameters of ``trainer_class`` that the harness does not pass:
    such a class needs a factory that supplies them (checked when it is registered)."""
    try:
        parameters = inspect.signature(trainer_class.__init__).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in list(parameters)[1:]
            if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            and p.name not in TRAINER_KEYWORDS]


class TrainerRunner:
    """A ``Runner`` that trains through a ``Trainer`` class (stock or the user's subclass), or
    through a factory that returns a ``Trainer`` built from the harness' keywords.

    A factory is called with the keywords ``TRAINER_KEYWORDS`` (``args`` holds the profile's
    hyper-parameters; change them with ``dataclasses.replace(args, ...)``) and must return a
    ``transformers.Trainer``; the recording is then mixed into the returned object's class,
    and the harness' callbacks added if the factory did not pass them on.
    """

    kind = "trainer"

    def __init__(self, name: str, trainer_class: type = Trainer, factory: Callable[..., Any] | None = None,
                 source: str | None = None) -> None:
        self.name, self.trainer_class, self.factory, self.source = name, trainer_class, factory, source

    def __repr__(self) -> str:
        target = self.factory if self.factory is not None else self.trainer_class
        return f"TrainerRunner({self.name!r}, {getattr(target, '__qualname__', target)})"

    def _build(self, keywords: dict[str, Any]) -> Trainer:
        if self.factory is None:
            return recording_class(self.trainer_class)(**keywords)
        trainer = self.factory(**keywords)
        if not isinstance(trainer, Trainer):
            raise ConfigError(f"runner {self.name}: the trainer factory "
                              f"{getattr(self.factory, '__qualname__', self.factory)} returned "
                              f"{type(trainer).__name__}, expected a transformers.Trainer")
        trainer.__class__ = recording_class(type(trainer))
        present = trainer.callback_handler.callbacks
        for callback in keywords["callbacks"]:
            if callback not in present:
                trainer.add_callback(callback)
        return trainer

    def train(self, prepared: Prepared, progress: RunProgress) -> RunnerOutput:
        """One run, or one part of a resumed run (``prepared.checkpoint``): the first part
        saves a checkpoint at its step and stops, the second resumes from it through
        ``Trainer.train(resume_from_checkpoint=...)`` and records the steps after it."""
        config, checkpoint = prepared.config, prepared.checkpoint
        names = tuple(prepared.task.metric_names)
        predictions: list[int] = []
        step_losses = _StepLosses()
        token_level = level_of(prepared.task) == TOKEN

        def compute_metrics(eval_pred) -> dict[str, float]:
            if token_level:  # eval_pred.predictions: the task's eval_statistics rows
                return prepared.metric.load().compute(predictions=eval_pred.predictions)
            preds = np.argmax(eval_pred.predictions, axis=-1)
            predictions[:] = preds.tolist()
            return prepared.metric.load().compute(predictions=preds, references=eval_pred.label_ids)

        callbacks: list[TrainerCallback] = [step_losses, _ReportProgress(progress, step_losses, names)]
        if checkpoint is not None and checkpoint.save_at is not None:
            callbacks.append(_StopAndSave(checkpoint.save_at, prepared.steps_per_epoch))
        with tempfile.TemporaryDirectory(prefix="pytest-finetune-trainer-") as scratch:
            output_dir = checkpoint.folder if checkpoint is not None else scratch
            trainer = self._build(dict(
                model=prepared.model, args=training_arguments(prepared, output_dir),
                train_dataset=prepared.train, eval_dataset=prepared.eval, data_collator=prepared.collator,
                processing_class=prepared.tokenizer, compute_metrics=compute_metrics, callbacks=callbacks))
            trainer.remove_callback(PrinterCallback)  # the dict per step; log_history keeps the numbers
            trainer.harness_config, trainer.step_losses = config, step_losses
            trainer.harness_runner = config.runner
            if token_level:  # a language model's logits are far too large to gather whole
                trainer.preprocess_logits_for_metrics = prepared.task.eval_statistics
            perturb.rng(config)  # test hook: after Trainer.__init__ seeded the RNG; a no-op unless asked
            trainer.train(resume_from_checkpoint=checkpoint.trainer_folder() if checkpoint is not None
                          and checkpoint.resume else None)
        after = checkpoint.resumed_from if checkpoint is not None and checkpoint.resume else 0
        log = [entry for entry in trainer.state.log_history if entry.get("step", 0) > after]
        steps = [entry for entry in log if "loss" in entry and "step" in entry]
        history = [{"epoch": float(e["epoch"]), **{name: e[f"eval_{name}"] for name in names},
                    "eval_loss": e["eval_loss"]}
                   for e in log if f"eval_{names[0]}" in e]
        return RunnerOutput(losses=step_losses.losses,
                            learning_rates=[float(e["learning_rate"]) for e in steps],
                            history=history, predictions=predictions, model=trainer.model)


STOCK = TrainerRunner("trainer")


def train_trainer(prepared: Prepared, progress: RunProgress | None = None) -> RunnerOutput:
    """The stock ``Trainer`` runner as a function (``STOCK.train``)."""
    return STOCK.train(prepared, progress or RunProgress(prepared.config, prepared.optimizer_steps))
