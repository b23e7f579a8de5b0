"""What both runners start from: seeded model, tokenized splits, collator.

Shared so that the Trainer and the manual loop differ only in the training code itself,
which is what the runner-parity check compares.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase, set_seed

from pytest_finetune.mrpc.data import load_mrpc
from pytest_finetune.mrpc.metric import LOCAL_METRIC, MetricChoice, choose_metric
from pytest_finetune.mrpc.modeling import load_model, load_tokenizer, pick_device, check_config_fields
from pytest_finetune.mrpc.preprocessing import make_collator, model_inputs, tokenize_mrpc
from pytest_finetune.runs import perturb
from pytest_finetune.runs.config import RunConfig

EVAL_BATCH_SIZE = 32
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
    metric: MetricChoice = LOCAL_METRIC  # which GLUE/MRPC metric module both runners evaluate with

    @property
    def optimizer_steps(self) -> int:
        batches = math.ceil(len(self.train) / self.config.batch_size)
        return self.config.epochs * math.ceil(batches / self.config.grad_accum)

    def warmup_steps(self) -> int:
        return math.ceil(self.optimizer_steps * self.config.warmup_ratio)


def model_overrides(config: RunConfig) -> dict[str, Any]:
    overrides = dict(config.config_overrides)
    if config.dropout is not None:
        overrides.update(hidden_dropout_prob=config.dropout,
                         attention_probs_dropout_prob=config.dropout,
                         classifier_dropout=config.dropout)
    return overrides


def prepare(config: RunConfig, cache_dir: str | None = None) -> Prepared:
    device = pick_device(config.device)
    tokenizer = load_tokenizer(config.model, trust_remote_code=config.trust_remote_code)
    ready = model_inputs(tokenize_mrpc(load_mrpc(config.data, cache_dir), tokenizer, config.max_length))
    train, evaluation = ready["train"], ready["validation"]
    if config.train_limit:
        train = train.select(range(min(config.train_limit, len(train))))
    if config.eval_limit:
        evaluation = evaluation.select(range(min(config.eval_limit, len(evaluation))))
    train = perturb.train_split(config, train)
    check_config_fields(config.model, dict(config.config_overrides), config.trust_remote_code)
    set_seed(config.seed)  # the new classification head is drawn from the global RNG
    model = load_model(config.model, num_labels=2, trust_remote_code=config.trust_remote_code,
                       **model_overrides(config))
    perturb.model(config, model)
    return Prepared(config, device, tokenizer, model, train, evaluation,
                    make_collator(perturb.collator_tokenizer(config, tokenizer)), choose_metric())


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
    """The trained model's logits on the first eval pairs, one batch, in eval mode.

    Kept per seed in baselines: on the same CPU and versions they are bit-identical, so the
    paired check sees an eval-side change (collation, forward numerics) even when no
    prediction flips.
    """
    rows = prepared.eval.select(range(min(FIXED_EVAL_PAIRS, len(prepared.eval))))
    batch = prepared.collator([dict(row) for row in rows])
    device = next(model.parameters()).device
    model.eval()
    logits = model(**{k: v.to(device) for k, v in batch.items()}).logits
    return [[float(x) for x in row] for row in logits.float().cpu()]
