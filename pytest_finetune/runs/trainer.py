"""The course's ``transformers.Trainer`` recipe on today's API.

(``eval_strategy``, ``processing_class``, ``torch.optim.AdamW`` via ``optim="adamw_torch"``;
keywords that differ between transformers 4.x and 5.x come from ``pytest_finetune.compat``.)
The subclass only adds the non-finite-loss stop; everything else is stock Trainer, since
stock Trainer behaviour is what users need guarded. Progress goes through a
``TrainerCallback`` to the harness' ``RunProgress`` instead of Trainer's own tqdm bar and
``PrinterCallback`` (which prints a dict per logged step: with ``logging_steps=1``, every
step); the per-step loss stays in ``state.log_history``, where the loss curve comes from.
"""
from __future__ import annotations

import math
import tempfile

import numpy as np
from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments

from pytest_finetune.compat.versions import length_grouping_arguments
from pytest_finetune.errors import NonFiniteLossError
from pytest_finetune.runs import perturb
from pytest_finetune.runs.prepare import EVAL_BATCH_SIZE, Prepared
from pytest_finetune.runs.progress import RunProgress
from pytest_finetune.runs.result import RunnerOutput


class _StepLosses(TrainerCallback):
    """The training loss of each optimizer step at full precision: the sum of its
    micro-batches' ``training_step`` losses, which is what Trainer logs, except that
    transformers 4.x rounds the logged value to 4 decimals and 5.x does not. The paired
    baseline check compares curves to float32 noise, so both sides must keep every digit."""

    def __init__(self) -> None:
        self.pending: list[float] = []
        self.losses: list[float] = []

    def on_step_end(self, args, state, control, **kwargs):
        self.losses.append(sum(self.pending))
        self.pending.clear()


class _HarnessTrainer(Trainer):
    step_losses: _StepLosses

    def create_optimizer(self, *args, **kwargs):
        optimizer = super().create_optimizer(*args, **kwargs)
        perturb.optimizer(self.harness_config, optimizer)  # test hook: a no-op unless asked
        return optimizer

    def training_step(self, model, inputs, num_items_in_batch=None):
        loss = super().training_step(model, inputs, num_items_in_batch)
        value = float(loss)
        self.step_losses.pending.append(value)
        if not math.isfinite(value):
            lengths = inputs["attention_mask"].sum(dim=1).tolist()
            lr = self.lr_scheduler.get_last_lr()[0] if self.lr_scheduler else self.args.learning_rate
            raise NonFiniteLossError(
                f"trainer run stopped: loss is {value} at step {self.state.global_step + 1} "
                f"(lr {lr:.3g}, batch lengths {lengths})")
        return loss


class _ReportProgress(TrainerCallback):
    """Trainer's logged steps and evaluations, handed to ``RunProgress``. ``on_log`` and
    ``on_evaluate`` have this form from transformers 4.46 to 5.x."""

    def __init__(self, progress: RunProgress, step_losses: _StepLosses) -> None:
        self.progress = progress
        self.step_losses = step_losses

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:  # a training step's entry (the summary's is "train_loss")
            # The step's full-precision loss (on_step_end ran before this log): 4.x rounds
            # the logged one to 4 decimals.
            self.progress.step(self.step_losses.losses[-1] if self.step_losses.losses else float(logs["loss"]))

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if metrics:
            self.progress.epoch({"accuracy": metrics.get("eval_accuracy"), "f1": metrics.get("eval_f1")})


def train_trainer(prepared: Prepared, progress: RunProgress | None = None) -> RunnerOutput:
    config = prepared.config
    progress = progress or RunProgress(config, prepared.optimizer_steps)
    predictions: list[int] = []
    step_losses = _StepLosses()

    def compute_metrics(eval_pred) -> dict[str, float]:
        preds = np.argmax(eval_pred.predictions, axis=-1)
        predictions[:] = preds.tolist()
        return prepared.metric.load().compute(predictions=preds, references=eval_pred.label_ids)

    with tempfile.TemporaryDirectory(prefix="pytest-finetune-trainer-") as output_dir:
        args = TrainingArguments(
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
            per_device_eval_batch_size=EVAL_BATCH_SIZE,
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
        trainer = _HarnessTrainer(
            model=prepared.model,
            args=args,
            train_dataset=prepared.train,
            eval_dataset=prepared.eval,
            data_collator=prepared.collator,
            processing_class=prepared.tokenizer,
            compute_metrics=compute_metrics,
            callbacks=[step_losses, _ReportProgress(progress, step_losses)],
        )
        trainer.remove_callback(PrinterCallback)  # the dict per step; log_history keeps the numbers
        trainer.harness_config, trainer.step_losses = config, step_losses
        perturb.rng(config)  # test hook: after Trainer.__init__ seeded the RNG; a no-op unless asked
        trainer.train()
    log = trainer.state.log_history
    steps = [entry for entry in log if "loss" in entry and "step" in entry]
    history = [
        {"epoch": float(e["epoch"]), "accuracy": e["eval_accuracy"], "f1": e["eval_f1"],
         "eval_loss": e["eval_loss"]}
        for e in log if "eval_accuracy" in e
    ]
    return RunnerOutput(losses=step_losses.losses,
                        learning_rates=[float(e["learning_rate"]) for e in steps],
                        history=history, predictions=predictions, model=trainer.model)
