"""The team's own training code: a Trainer subclass with its own loss, and a plain loop."""
import torch
from transformers import Trainer, get_scheduler


class WeightedLossTrainer(Trainer):
    """Bug reports count twice: a class-weighted cross entropy."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        weight = torch.tensor([1.0, 2.0, 1.0], device=outputs.logits.device)
        loss = torch.nn.functional.cross_entropy(outputs.logits, labels, weight=weight)
        return (loss, outputs) if return_outputs else loss


def train_my_way(run):
    """A hand-written loop: pytest-finetune hands it `run` and hears back from it."""
    model = run.model
    optimizer = torch.optim.AdamW(model.parameters(), lr=run.lr, weight_decay=run.weight_decay)
    scheduler = get_scheduler("linear", optimizer, run.warmup_steps, run.total_steps)
    for epoch in range(run.epochs):
        model.train()
        for batch in run.train_dataloader:
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), run.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            run.step(loss)        # one optimizer step done, with its loss
        run.evaluate(model)       # pytest-finetune evaluates, records and reports the epoch
