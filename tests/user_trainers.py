"""Users' own runners as teams write them, for the invariant tests, the docs and the benchmark.

Module level on purpose: a run on several processes imports them by module and name.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import Trainer, get_scheduler


class IgnoresItemsTrainer(Trainer):
    """A ``compute_loss`` that accepts ``num_items_in_batch`` and ignores it: each micro-batch's
    mean. On transformers 5.x Trainer no longer divides it by the accumulation steps when the
    model's forward takes ``**kwargs`` (BERT's does), so it trains with k times the loss: the
    bug class of transformers issue 47688, in the user's own code."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        loss = F.cross_entropy(outputs.logits.view(-1, outputs.logits.size(-1)), labels.view(-1))
        return (loss, outputs) if return_outputs else loss


class NormalizedLossTrainer(Trainer):
    """The same loss, normalized as Trainer expects: summed over the examples and divided by
    ``num_items_in_batch`` when Trainer gives it, else a mean. ``num_items_in_batch`` counts
    the accumulated batch on every process (``average_tokens_across_devices``), and DDP
    averages the gradients over the processes, so the sum is multiplied by their number,
    as ``Trainer.compute_loss`` does (without it: half the loss on 2 processes)."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        total = F.cross_entropy(outputs.logits.view(-1, outputs.logits.size(-1)), labels.view(-1), reduction="sum")
        if num_items_in_batch is None:
            loss = total / labels.numel()
        else:
            across = self.accelerator.num_processes if self.args.average_tokens_across_devices else 1
            loss = total * across / num_items_in_batch
        return (loss, outputs) if return_outputs else loss


def resumable_course_loop(run):
    """The HF course's loop, written against ``LoopRun`` with the two lines resume needs."""
    model = run.model
    optimizer = torch.optim.AdamW(model.parameters(), lr=run.lr, weight_decay=run.weight_decay)
    scheduler = get_scheduler("linear", optimizer, run.warmup_steps, run.total_steps)
    run.checkpointing(optimizer, scheduler)
    for _ in range(run.start_epoch, run.epochs):
        model.train()
        for batch in run.train_dataloader:
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), run.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            run.step(loss)
        run.evaluate(model)
