"""What every runner starts from: seeded model, tokenized splits, collator, metric.

Shared so that the runners (built-in or the user's) differ only in the training code
itself, which is what the runner-parity check compares. What the data, labels, model and
metric are comes from the run's task (``tasks.base.Task``; MRPC by default).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase, set_seed

from pytest_finetune.mrpc.metric import LOCAL_METRIC, MetricChoice
from pytest_finetune.mrpc.modeling import check_config_fields, load_tokenizer, pick_device
from pytest_finetune.runs import perturb
from pytest_finetune.runs.config import EVAL_BATCH_SIZE, RunConfig  # noqa: F401  (re-exported)
from pytest_finetune.runs.resume import Checkpoint
from pytest_finetune.compat.versions import enable_activation_checkpointing
from pytest_finetune.errors import ConfigError
from pytest_finetune.tasks.base import Task, fixed_outputs
from pytest_finetune.tasks.builtin import MRPC

FIXED_EVAL_PAIRS = 8  # the eval pairs whose logits a baseline keeps, per seed


@dataclass
class Prepared:
    config: RunConfig
    device: str
    tokenizer: PreTrainedTokenizerBase
    model: PreTrainedModel
    train: Dataset
    eval: Dataset
    collator: Any
    metric: MetricChoice = LOCAL_METRIC  # which metric module every runner evaluates with
    task: Task = MRPC
    # One part of a resumed run (RunConfig.resume_at): what to save or resume from (runs.resume).
    checkpoint: Checkpoint | None = None

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps per epoch; on several processes each takes ``batch_size`` examples of a
        step (accelerate and Trainer shard whole batches)."""
        batches = math.ceil(len(self.train) / (self.config.batch_size * self.config.processes))
        return math.ceil(batches / self.config.grad_accum)

    @property
    def optimizer_steps(self) -> int:
        return self.config.epochs * self.steps_per_epoch

    def warmup_steps(self) -> int:
        return math.ceil(self.optimizer_steps * self.config.warmup_ratio)


def model_overrides(config: RunConfig) -> dict[str, Any]:
    overrides = dict(config.config_overrides)
    if config.dropout is not None:
        overrides.update(hidden_dropout_prob=config.dropout,
                         attention_probs_dropout_prob=config.dropout,
                         classifier_dropout=config.dropout)
    if config.attn_implementation is not None:  # a config keyword in transformers 4.57 and 5.x alike
        overrides["attn_implementation"] = config.attn_implementation
    return overrides


def enable_gradient_checkpointing(config: RunConfig, model: PreTrainedModel) -> None:
    """Activations recomputed in backward, for every runner alike (Trainer's
    ``gradient_checkpointing`` argument calls the same method, ``compat``). Non-reentrant, the form torch
    recommends; the RNG state is preserved for the recomputation unless a test hook says not
    to (``runs.perturb``)."""
    if not config.gradient_checkpointing:
        return
    try:
        enable_activation_checkpointing(model, checkpointing_kwargs(config))
    except ValueError as exc:  # "... does not support gradient checkpointing"
        raise ConfigError(f"gradient_checkpointing: {exc}") from None


def checkpointing_kwargs(config: RunConfig) -> dict[str, Any]:
    return {"use_reentrant": False, **perturb.checkpointing(config)}


def prepare(config: RunConfig, cache_dir: str | None = None, task: Task = MRPC) -> Prepared:
    """Everything a runner needs; the data is validated (and tokenized) before the model loads."""
    device = pick_device(config.device)
    tokenizer = load_tokenizer(config.model, trust_remote_code=config.trust_remote_code)
    ready = task.tokenize(task.load(config.data, cache_dir), tokenizer, config.max_length)
    train, evaluation = ready["train"], ready["validation"]
    if config.train_limit:
        train = task.limit(train, config.train_limit)
    if config.eval_limit:
        evaluation = task.limit(evaluation, config.eval_limit)
    train = perturb.train_split(config, train)
    check_config_fields(config.model, dict(config.config_overrides), config.trust_remote_code)
    set_seed(config.seed)  # the new classification head is drawn from the global RNG
    model = task.load_model(config.model, trust_remote_code=config.trust_remote_code, **model_overrides(config))
    enable_gradient_checkpointing(config, model)
    perturb.model(config, model)
    return Prepared(config, device, tokenizer, model, train, evaluation,
                    task.collator(perturb.collator_tokenizer(config, tokenizer)), task.metric(), task)


def snapshot(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters() if p.requires_grad]


def relative_change(model: torch.nn.Module, before: list[torch.Tensor]) -> float:
    """||theta - theta0|| / ||theta0||: zero means training never moved the weights."""
    after = [p.detach().float().cpu() for p in model.parameters() if p.requires_grad]
    diff = sum(float((a - b.float().cpu()).pow(2).sum()) for a, b in zip(after, before))
    base = sum(float(b.float().cpu().pow(2).sum()) for b in before)
    return math.sqrt(diff / base) if base else math.sqrt(diff)


@torch.inference_mode()
def fixed_batch_logits(model: torch.nn.Module, prepared: Prepared) -> list[list[float]]:
    """The trained model's logits on the first eval pairs, one batch, in eval mode (a
    token-level task: what its ``fixed_outputs`` keep of them, ``tasks.base``).

    Kept per seed in baselines: on the same CPU and versions they are bit-identical, so the
    paired check sees an eval-side change (collation, forward numerics) even when no
    prediction flips.
    """
    rows = prepared.eval.select(range(min(FIXED_EVAL_PAIRS, len(prepared.eval))))
    batch = prepared.collator([dict(row) for row in rows])
    device = next(model.parameters()).device
    model.eval()
    batch = {k: v.to(device) for k, v in batch.items()}
    return fixed_outputs(prepared.task, model(**batch).logits, batch.get("labels"))
