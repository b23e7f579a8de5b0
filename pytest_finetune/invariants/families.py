"""The built-in invariant families: two configurations of one runner that must train the same.

Each family is a row of data: how to make the reference and the variant from the run's
configuration, what it pins so that the claim is exact (dropout off where random masks
would differ between two equivalent layouts), and what a divergence most likely means
(``causes``). The comparison (``invariants.compare``) and the noise envelope are shared.

========================  ==========================================  =========================
family                    reference / variant                         pinned
========================  ==========================================  =========================
``accumulation``          batch B x accumulation 1 / B/k x k          dropout 0
``eval_batch``            eval batch 32 / eval batch 7                no length cut
``checkpointing``         gradient checkpointing off / on             the model's dropout
``attention``             ``eager`` / ``sdpa`` attention              dropout 0, no length cut
``resume``                uninterrupted / resumed from a checkpoint   the model's dropout
                          saved inside an epoch mid-run
``distributed``           1 process x batch B / N processes x B/N     dropout 0
========================  ==========================================  =========================

Dropout stays on where the claim is about random numbers (checkpointing must replay the
forward's dropout masks in backward; a resumed run must draw the masks the uninterrupted run
draws), and is off where equivalent layouts draw different masks (two micro-batches of 4
draw other masks than one batch of 8, as do two processes, and ``sdpa`` draws its attention
dropout through another path than ``eager``). The families about padding run without the
tiny profile's cut to 32 tokens (``max_length`` None): cut, nearly every MRPC pair is exactly
32 tokens long, no batch has padding, and an evaluation that lets padding into the outputs,
or an attention kernel that drops the padding mask, would pass unseen (measured: the positive
controls ``eval_no_mask`` and ``sdpa_no_mask`` held with the cut).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from pytest_finetune.errors import ConfigError
from pytest_finetune.runs.config import RunConfig

# What a failure looks like to ``causes``: the first divergence, in training order.
#   signal: "steps", "learning rate", "loss", "eval loss", "outputs" or "metric <name>"
#   step: its optimizer step (or epoch for eval signals), 1-based; ratio: variant / reference
Divergence = Mapping[str, Any]


@dataclass(frozen=True)
class Family:
    name: str
    claim: str  # "{variant} trains like {reference}"
    pinned: Mapping[str, Any]  # RunConfig fields the claim needs (unless the user overrides them)
    options: Mapping[str, Any]  # the family's own settings and their defaults
    reference: Callable[[RunConfig, Mapping[str, Any]], RunConfig]
    variant: Callable[[RunConfig, Mapping[str, Any], Any], RunConfig]  # (base, options, reference result)
    describe: Callable[[RunConfig], str]  # one side, in words
    causes: Callable[[Divergence, RunConfig, RunConfig, str], str]  # (first, reference, variant, level)
    launches: bool = False  # starts processes (the distributed marker)
    notes: tuple[str, ...] = field(default=())


def _near(value: float, target: float, tolerance: float = 0.02) -> bool:
    return target > 0 and abs(value / target - 1) <= tolerance


def _split_batch(family: str, option: str, what: str, base: RunConfig, options: Mapping[str, Any]) -> RunConfig:
    """The reference of a family whose variant splits the batch in ``options[option]`` parts
    (accumulation steps, processes): the base itself, once the split is checked to be exact."""
    parts, batch = int(options[option]), base.batch_size
    if parts < 2 or batch % parts:
        raise ConfigError(f"{family} invariant: batch_size {batch} must be a multiple of {option}={parts} "
                          f"(>= 2): the variant trains batch_size/{option} {what}")
    return base


# -- accumulation ---------------------------------------------------------------------------
def _accumulation_causes(first: Divergence, reference: RunConfig, variant: RunConfig, level: str) -> str:
    k, ratio, signal = variant.grad_accum, first.get("ratio", 1.0), first["signal"]
    if signal == "steps" and first["variant"] == first["reference"] * k:
        return ("the variant steps the optimizer after every micro-batch: it does not accumulate (a training "
                "function must read run.grad_accum and step every grad_accum batches)")
    if signal == "steps":
        return ("the number of optimizer steps differs: the accumulation window is counted in batches where it "
                "should be in optimizer steps (or the last, partial window is dropped)")
    if signal == "learning rate":
        return "the learning-rate schedule counts micro-batches instead of optimizer steps"
    if signal == "loss" and first["step"] == 1:
        if _near(ratio, k):
            return ("accumulation normalization (the loss is not divided by the accumulation steps, or "
                    "num_items_in_batch is ignored: a compute_loss or model that returns each micro-batch's mean "
                    "where the Trainer expects the accumulated batch's)")
        if _near(ratio, 1 / k):
            return "the loss is divided by the accumulation steps twice (by your code and by the library)"
        if level == "token":
            return ("token-count normalization: each micro-batch's loss is its own token mean, so tokens of short "
                    "micro-batches weigh more; a token-level loss must be the token sum over the whole "
                    "accumulated batch's predicted tokens (num_items_in_batch)")
        return "the first step's loss already differs: the micro-batches are not the large batch's examples"
    if signal == "loss":
        return ("the updates differ: the optimizer steps, clips or zeroes the gradients per micro-batch, or the "
                "gradients of the micro-batches are not summed")
    return "training is the same but the evaluation differs: the accumulation setting reached the evaluation"


# -- distributed ----------------------------------------------------------------------------
def _distributed_causes(first: Divergence, reference: RunConfig, variant: RunConfig, level: str) -> str:
    world, ratio, signal = variant.processes, first.get("ratio", 1.0), first["signal"]
    if signal == "steps":
        return ("the number of optimizer steps differs: each process does not take its own share of the "
                "batches (data not sharded, or sharded per example instead of per batch)")
    if signal == "learning rate":
        return ("the learning-rate schedule differs: accelerate steps a prepared scheduler once per process, so "
                "count its steps in one process' batches (or do not prepare it)")
    if signal in ("loss", "eval loss") and first["step"] == 1 and _near(ratio, world):
        return (f"x world size: not averaged across processes (the loss is summed over the {world} processes, or "
                "scaled by their number where the model ignores num_items_in_batch: Trainer's "
                "average_tokens_across_devices)")
    if signal in ("loss", "eval loss") and first["step"] == 1 and _near(ratio, 1 / world):
        return (f"/ world size: averaged over the processes twice (a loss divided by the items of all {world} "
                "processes, e.g. Trainer's num_items_in_batch under average_tokens_across_devices, while DDP also "
                "averages the gradients: multiply it by the number of processes, as Trainer.compute_loss does)")
    if signal == "loss" and first["step"] == 1:
        if level == "token":
            return ("per-process token means averaged: each process divides by its own token count; a token-level "
                    "loss must be divided by the tokens of all processes (gather num_items_in_batch; Trainer: "
                    "average_tokens_across_devices)")
        return "the first step's loss already differs: the processes do not see the large batch's examples"
    if signal == "loss":
        return ("the updates differ: gradients are not synchronised across processes (no DDP wrapper, or no_sync "
                "left on), or each process clips its own gradients")
    return "training is the same but the evaluation differs: it is not gathered from every process (or gathered twice)"


# -- the others -------------------------------------------------------------------------------
def _eval_batch_causes(first: Divergence, reference: RunConfig, variant: RunConfig, level: str) -> str:
    if first["signal"] == "eval loss" and first.get("only_eval_loss") and level == "token":
        return ("the eval loss is a mean of per-batch means (each weighted by its examples), but the task's loss "
                "averages over tokens: batches of other lengths weigh their tokens differently")
    if first["signal"] in ("loss", "learning rate", "steps"):
        return "the eval batch size changed the training: the evaluation draws random numbers or changes state"
    return ("the evaluation depends on how the eval split is batched: padding reaches the outputs (the attention "
            "mask is not applied), or the eval loss is averaged per batch instead of per example or token")


def _checkpointing_causes(first: Divergence, reference: RunConfig, variant: RunConfig, level: str) -> str:
    if first["signal"] == "loss" and first["step"] == 1:
        return ("the first step's loss already differs: checkpointing changed the forward pass itself (a layer's "
                "train/eval mode, the cache, or the inputs it passes on)")
    if first["signal"] == "loss":
        return ("the recomputation in backward differs from the forward: the RNG state is not preserved for it "
                "(dropout masks drawn anew), or a layer is not deterministic")
    return "training is the same but the evaluation differs: checkpointing is left on in the evaluation"


def _attention_causes(first: Divergence, reference: RunConfig, variant: RunConfig, level: str) -> str:
    if first["signal"] == "loss" and first["step"] > 1 and first.get("step1_times", 0.0) <= 1.0:
        return ("step 1 is the same to the last bits but the updates differ: the backward of one attention "
                "implementation")
    moved = "" if first["signal"] != "loss" or first["step"] == 1 else (
        f" (step 1 moved too, {first['step1_times']:.1f}x the envelope: an untrained model's outputs hardly depend "
        "on what it attends to, so the difference shows once it has learned)")
    return (f"the {variant.attn_implementation} and {reference.attn_implementation} attention compute different "
            f"outputs: one applies the padding mask differently (or not at all), scales differently, or has a kernel "
            f"bug{moved}")


def _resume_causes(first: Divergence, reference: RunConfig, variant: RunConfig, level: str) -> str:
    at, signal, step = variant.resume_at, first["signal"], first.get("step")
    if signal == "steps":
        return ("the resumed run trains another number of steps: it does not start at the checkpoint's epoch and "
                "step (start from its epoch, skip the batches done before it)")
    if signal == "learning rate":
        return "the learning-rate scheduler's state is not restored from the checkpoint"
    if signal == "loss" and step == at + 1:
        return (f"the first resumed step ({at + 1}) already differs, and its loss comes before any resumed update: "
                "the weights loaded, the batch it sees (sampler state, batches skipped) or the dropout masks (RNG "
                "state, restored after the data iterator starts) differ from the uninterrupted run's")
    if signal == "loss" and step == at + 2:
        return (f"step {at + 1} is the same but the updates after it differ: the optimizer state (Adam's moments, "
                "step count) or the gradient scaler is not restored")
    if signal == "loss" and step is not None and step <= at:
        return "the steps before the checkpoint differ: saving the checkpoint changed the training"
    if signal == "loss":
        return "the resumed run drifts later: the data order of a later epoch or the RNG state differs"
    return "training is the same but the evaluation differs: the resumed run evaluates another model or split"


def _resume_step(base: RunConfig, options: Mapping[str, Any], reference: Any) -> int:
    """The default checkpoint: inside the middle epoch (a resumed run must skip batches and
    restore the RNG mid-epoch, the harder case), or ``at`` as given."""
    total = len(reference.losses)
    if options.get("at") is not None:
        at = int(options["at"])
    else:
        per_epoch = max(1, total // max(1, base.epochs))
        at = per_epoch * (base.epochs // 2) + max(1, per_epoch // 2)
    if not 0 < at < total:
        raise ConfigError(f"resume invariant: at={at} is not a step inside the run (1..{total - 1})")
    return at


FAMILIES: dict[str, Family] = {family.name: family for family in (
    Family(
        name="accumulation",
        claim="{variant} trains like {reference}",
        pinned={"dropout": 0.0},
        options={"steps": 2},
        reference=lambda base, o: _split_batch("accumulation", "steps", "x steps", base, o).replace(grad_accum=1),
        variant=lambda base, o, ref: base.replace(batch_size=base.batch_size // int(o["steps"]),
                                                  grad_accum=int(o["steps"])),
        describe=lambda c: f"batch {c.batch_size} x accumulation {c.grad_accum}",
        causes=_accumulation_causes,
    ),
    Family(
        name="eval_batch",
        claim="evaluating with {variant} gives what {reference} gives",
        pinned={"max_length": None},
        options={"size": 7},
        reference=lambda base, o: base,
        variant=lambda base, o, ref: base.replace(eval_batch_size=int(o["size"])),
        describe=lambda c: f"eval batch {c.eval_batch_size}",
        causes=_eval_batch_causes,
    ),
    Family(
        name="checkpointing",
        claim="{variant} trains like {reference}",
        pinned={},
        options={},
        reference=lambda base, o: base.replace(gradient_checkpointing=False),
        variant=lambda base, o, ref: base.replace(gradient_checkpointing=True),
        describe=lambda c: f"gradient checkpointing {'on' if c.gradient_checkpointing else 'off'}",
        causes=_checkpointing_causes,
    ),
    Family(
        name="attention",
        claim="{variant} trains like {reference}",
        pinned={"dropout": 0.0, "max_length": None},
        options={"reference_implementation": "eager", "implementation": "sdpa"},
        reference=lambda base, o: base.replace(attn_implementation=o["reference_implementation"]),
        variant=lambda base, o, ref: base.replace(attn_implementation=o["implementation"]),
        describe=lambda c: f"{c.attn_implementation} attention",
        causes=_attention_causes,
    ),
    Family(
        name="resume",
        claim="{variant} trains like {reference}",
        pinned={},
        options={"at": None},
        reference=lambda base, o: base.replace(resume_at=None),
        variant=lambda base, o, ref: base.replace(resume_at=_resume_step(base, o, ref)),
        describe=lambda c: (f"the run resumed from its checkpoint of step {c.resume_at}" if c.resume_at
                            else "the uninterrupted run"),
        causes=_resume_causes,
    ),
    Family(
        name="distributed",
        claim="{variant} trains like {reference}",
        pinned={"dropout": 0.0},
        options={"processes": 2},
        reference=lambda base, o: _split_batch("distributed", "processes", "on each process", base, o)
        .replace(processes=1),
        variant=lambda base, o, ref: base.replace(batch_size=base.batch_size // int(o["processes"]),
                                                  processes=int(o["processes"])),
        describe=lambda c: (f"{c.processes} processes x batch {c.batch_size}" if c.processes > 1
                            else f"1 process x batch {c.batch_size}"),
        causes=_distributed_causes,
        launches=True,
    ),
)}


def family(name: str) -> Family:
    """The family called ``name``; a ConfigError listing them otherwise."""
    if name not in FAMILIES:
        raise ConfigError(f"invariant {name!r}: expected one of {', '.join(FAMILIES)}")
    return FAMILIES[name]
