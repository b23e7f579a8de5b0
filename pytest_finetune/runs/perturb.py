"""Test hooks: perturbations of known size that the runs apply at fixed points.

They exist to measure the checks, not to train models: ``benchmarks/power.py`` injects
each kind at a few sizes to find the smallest change the baseline check detects, and the
baseline update runs two *noise probes* (a different torch thread count, a 1-ulp nudge of
the initial weights: changes that must not count) to measure the numerical-noise envelope
of the paired same-seed check. A perturbation is part of ``RunConfig.perturb`` (so part of
the run's cache key) but not of its scenario: a perturbed run is judged against the clean
baseline. Every real run has ``perturb == ()``, and then no hook here changes anything.

Changes that ``RunConfig`` already expresses (``lr``, ``weight_decay``, ``warmup_ratio``,
``max_grad_norm``, ``max_length``, ``dropout``, ``config_overrides`` such as
``layer_norm_eps``) are made through those fields, not here.

Where each kind acts (both runners pass through the same points):

========================  =================================================================
point                     kinds (size means)
========================  =================================================================
``threads`` (execute)     ``threads``: torch intra-op threads for the run (restored after)
``train_split`` (prepare) ``swap_pairs``: swap that many pairs of train examples (0<->1,
                          2<->3, ...); ``flip_labels``: flip the labels of the first N
``collator`` (prepare)    ``pad_left``: pad on the left (size ignored, use 1)
``model`` (prepare)       ``init_ulp``: every initial weight nudged N float32 ulps up;
                          ``init_noise``: weights += size * std(weight) * N(0, 1);
                          ``label_smoothing``: training loss smoothed by ``size``;
                          ``loss_scale``: training loss times ``1 + size``;
                          ``grad_scale``: gradients times ``1 + size``;
                          ``grad_noise``: gradients += size * rms(grad) * N(0, 1)
``optimizer`` (runners)   ``adam_beta1`` / ``adam_beta2``: beta minus ``size``;
                          ``adam_eps``: eps times ``size``; ``schedule_cut``: learning
                          rate zero from optimizer step ``size + 1`` on (a schedule that
                          stops training early: harmful by construction)
``rng`` (runners, just    ``rng_draw``: draw ``size`` numbers from the global torch RNG
before training)          (dropout masks and anything else drawn from it move; quality-
                          neutral by construction, like a release that draws one more
                          random number)
========================  =================================================================

The positive controls of the equivalence invariants (``pytest_finetune.invariants``): each
is a bug of the kind its invariant exists to catch, so each must fail it, for the reason it
names (size ignored, use 1):

========================  =================================================================
point                     kinds
========================  =================================================================
``model`` (prepare)       ``accum_unscaled``: the training loss times ``grad_accum`` (a loss
                          not divided by the accumulation steps, as a ``compute_loss`` that
                          ignores ``num_items_in_batch`` on transformers 5.x);
                          ``world_unscaled``: the training loss times the number of
                          processes (a loss not averaged across processes);
                          ``eval_no_mask``: evaluation forward passes without the attention
                          mask (padding leaks into the outputs, so they depend on batching);
                          ``sdpa_no_mask``: forward passes of a model running ``sdpa``
                          attention without the attention mask (a kernel path that drops it)
``checkpointing``         ``checkpoint_no_rng``: gradient checkpointing that does not restore
(prepare)                 the RNG state for the recomputation (dropout masks drawn anew)
``resume`` (runners)      ``resume_drop_rng``: a resumed run that does not restore the RNG
                          state saved in its checkpoint
========================  =================================================================

Random draws use their own generator seeded from the run's seed, never the global RNG, so
a perturbation changes nothing but what it names.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

KINDS = ("threads", "swap_pairs", "flip_labels", "pad_left", "init_ulp", "init_noise",
         "label_smoothing", "loss_scale", "grad_scale", "grad_noise", "adam_beta1", "adam_beta2",
         "adam_eps", "schedule_cut", "rng_draw", "accum_unscaled", "world_unscaled", "eval_no_mask",
         "sdpa_no_mask", "checkpoint_no_rng", "resume_drop_rng")
_LOSS_KINDS = ("label_smoothing", "loss_scale", "accum_unscaled", "world_unscaled")
_MASK_KINDS = ("eval_no_mask", "sdpa_no_mask")
_MODEL_KINDS = ("init_ulp", "init_noise", "grad_scale", "grad_noise", *_LOSS_KINDS, *_MASK_KINDS)


def _get(config, kind: str) -> float | None:
    for name, size in config.perturb:
        if name == kind:
            return float(size)
    return None


@contextlib.contextmanager
def threads(config) -> Iterator[None]:
    """Run with another torch thread count (reduction order changes, nothing else)."""
    count = _get(config, "threads")
    if count is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(int(count))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_split(config, dataset):
    """Swap pairs of train examples (data order) or flip labels (data content)."""
    swaps, flips = _get(config, "swap_pairs"), _get(config, "flip_labels")
    if swaps:
        order = list(range(len(dataset)))
        for i in range(int(swaps)):
            order[2 * i], order[2 * i + 1] = order[2 * i + 1], order[2 * i]
        dataset = dataset.select(order)
    if flips:
        count = int(flips)
        dataset = dataset.map(lambda row, i: {"labels": 1 - row["labels"] if i < count else row["labels"]},
                              with_indices=True, load_from_cache_file=False)
    return dataset


def collator_tokenizer(config, tokenizer):
    """The tokenizer the collator pads with: a left-padding copy under ``pad_left``."""
    if _get(config, "pad_left") is None:
        return tokenizer
    import copy

    left = copy.copy(tokenizer)
    left.padding_side = "left"
    return left


def _generator(config, salt: int):
    import torch

    return torch.Generator().manual_seed(config.seed * 1000 + salt)


def model(config, model_) -> None:
    """Nudge the initial weights, and hook the training loss and gradients, in place."""
    if not any(_get(config, kind) is not None for kind in _MODEL_KINDS):
        return
    import torch

    params = [p for p in model_.parameters() if p.requires_grad]
    with torch.no_grad():
        for _ in range(int(_get(config, "init_ulp") or 0)):
            for p in params:
                p.copy_(torch.nextafter(p, torch.full_like(p, float("inf"))))
        noise = _get(config, "init_noise")
        if noise:
            gen = _generator(config, 1)
            for p in params:
                if p.numel() > 1:
                    p.add_(noise * p.std() * torch.randn(p.shape, generator=gen).to(p))
    smoothing, loss_scale = _get(config, "label_smoothing"), _get(config, "loss_scale")
    if any(_get(config, kind) is not None for kind in _LOSS_KINDS):
        scale = (1.0 + (loss_scale or 0.0)) * (config.grad_accum if _get(config, "accum_unscaled") else 1)
        model_.register_forward_hook(_loss_hook(smoothing or 0.0, scale, _get(config, "world_unscaled") is not None),
                                     with_kwargs=True)
    if any(_get(config, kind) is not None for kind in _MASK_KINDS):
        model_.register_forward_pre_hook(_mask_hook(_get(config, "eval_no_mask") is not None,
                                                    _get(config, "sdpa_no_mask") is not None), with_kwargs=True)
    grad_scale, grad_noise = _get(config, "grad_scale"), _get(config, "grad_noise")
    if grad_scale is not None or grad_noise is not None:
        gen = _generator(config, 2)
        for p in params:
            p.register_hook(_grad_hook(1.0 + (grad_scale or 0.0), grad_noise or 0.0, gen))


def _loss_hook(smoothing: float, scale: float, per_process: bool = False):
    def hook(module, args, kwargs, output):
        labels = kwargs.get("labels")
        if not module.training or labels is None or getattr(output, "loss", None) is None:
            return output
        import torch.nn.functional as F

        loss = output.loss
        if smoothing:
            loss = F.cross_entropy(output.logits.view(-1, output.logits.shape[-1]), labels.view(-1),
                                   label_smoothing=smoothing)
        output["loss"] = loss * scale * (world_size() if per_process else 1)
        return output

    return hook


def world_size() -> int:
    """How many processes train together (1 outside a distributed run)."""
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _mask_hook(in_eval: bool, under_sdpa: bool):
    def hook(module, args, kwargs):
        drop = (in_eval and not module.training) or \
            (under_sdpa and getattr(module.config, "_attn_implementation", None) == "sdpa")
        if drop and kwargs.get("attention_mask") is not None:
            kwargs = {**kwargs, "attention_mask": None}
        return args, kwargs

    return hook


def checkpointing(config) -> dict[str, Any]:
    """Extra ``gradient_checkpointing_kwargs``: ``checkpoint_no_rng`` recomputes without the
    forward's RNG state."""
    return {"preserve_rng_state": False} if _get(config, "checkpoint_no_rng") is not None else {}


def resume_drops_rng(config) -> bool:
    """Whether a resumed run must leave the checkpoint's RNG state unrestored (a test hook)."""
    return _get(config, "resume_drop_rng") is not None


def _grad_hook(scale: float, noise: float, generator):
    def hook(grad):
        import torch

        grad = grad * scale
        if noise:
            rms = grad.pow(2).mean().sqrt()
            grad = grad + noise * rms * torch.randn(grad.shape, generator=generator).to(grad)
        return grad

    return hook


def optimizer(config, optimizer_) -> None:
    """Change Adam's betas or eps in place, relative to what the runner's library chose;
    or zero the learning rate from a step on (``schedule_cut``)."""
    beta1, beta2, eps = (_get(config, k) for k in ("adam_beta1", "adam_beta2", "adam_eps"))
    for group in optimizer_.param_groups:
        if beta1 is not None or beta2 is not None:
            b1, b2 = group["betas"]
            group["betas"] = (b1 - (beta1 or 0.0), b2 - (beta2 or 0.0))
        if eps is not None:
            group["eps"] = group["eps"] * eps
    cut = _get(config, "schedule_cut")
    if cut is not None:
        optimizer_.register_step_pre_hook(_schedule_cut_hook(int(cut)))


def _schedule_cut_hook(keep: int):
    """Before each optimizer step after the first ``keep``: learning rate 0 (the scheduler
    sets it again after the step, so its own record of the rate is unchanged)."""
    done = [0]

    def hook(optimizer_, args, kwargs):
        done[0] += 1
        if done[0] > keep:
            for group in optimizer_.param_groups:
                group["lr"] = 0.0

    return hook


def rng(config) -> None:
    """Draw ``rng_draw`` numbers from the global torch RNG, just before training starts."""
    count = _get(config, "rng_draw")
    if count:
        import torch

        torch.rand(int(count))


def describe(perturb: Any) -> str:
    """``kind=size, ...`` for reports; ``clean`` when nothing is perturbed."""
    return ", ".join(f"{kind}={size:g}" for kind, size in perturb) or "clean"
