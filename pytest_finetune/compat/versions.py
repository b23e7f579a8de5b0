"""The differences between the library releases pytest-finetune supports, in one place.

Supported: transformers 4.57 through 5.x (see ``pyproject.toml`` for the floors of every
dependency, and ``.ci/oldest-pins.txt`` for the oldest set CI runs). The runners call the
functions here instead of testing versions themselves, so a new difference is added here
once and every caller follows.

Differences are detected by feature (does the installed class take this keyword?), not by
version number: a feature test is right for every release in between, including dev builds,
while a version table would need to know the exact release that changed.

Found so far, by running the fast tier on transformers 4.57.6 and 5.24.0:

- ``TrainingArguments`` chooses the train order with ``train_sampling_strategy="random" |
  "group_by_length"`` in 5.x, and with the boolean ``group_by_length`` in 4.x (where
  ``train_sampling_strategy`` is an unknown keyword and fails the run at once).
- Arrow files written by one ``datasets`` release are not always readable by another: those
  of datasets 5.x name the ``List`` feature type, and datasets 3.0 fails on them ("must be
  called with a dataclass type or instance"). Caches are kept per datasets release.
- Activation (gradient) checkpointing is ``model.activation_checkpointing_enable(
  activation_checkpointing_kwargs=...)`` from transformers 5.25, where
  ``gradient_checkpointing_enable`` became a deprecated alias that warns; 4.57 and 5.24 have
  only the latter. ``TrainingArguments`` renamed ``gradient_checkpointing(_kwargs)`` to
  ``activation_checkpointing(_kwargs)`` in the same release (the old names warn).
- transformers 4.57's Trainer calls ``Accelerator.unwrap_model(keep_torch_compile=...)``,
  which accelerate gained in 1.3.0 although transformers declares accelerate>=0.26: hence
  pyproject's accelerate floor, not a branch here.

Not differences (checked, so nobody adds a branch for them): ``eval_strategy``,
``processing_class``, ``use_cpu``, ``Trainer.training_step(..., num_items_in_batch)``,
``transformers.trainer_pt_utils.LengthGroupedSampler`` and accelerate's
``DataLoaderConfiguration(use_seedable_sampler=True)`` exist on both sides.

Importing this module imports neither torch nor transformers: the ``upgrade`` command and
the plugin's startup use it in environments where loading them costs seconds.
"""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any


def installed_version(package: str) -> str | None:
    """The installed distribution's version string (``"5.24.0"``), or None when it is not
    installed. Reads package metadata only: the package itself is not imported."""
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def length_grouping_arguments(group_by_length: bool) -> dict[str, Any]:
    """``TrainingArguments`` keywords for a shuffled (False) or length-grouped (True) train
    order, spelled the way the installed transformers wants them.

    transformers 5.x: ``train_sampling_strategy``; 4.x: ``group_by_length``.
    """
    from transformers import TrainingArguments

    if "train_sampling_strategy" in TrainingArguments.__dataclass_fields__:
        return {"train_sampling_strategy": "group_by_length" if group_by_length else "random"}
    return {"group_by_length": group_by_length}


def arrow_cache_tag() -> str:
    """A folder name that keeps Arrow caches of different ``datasets`` releases apart
    (``datasets-5.2.0``): a cache written by one release may not load in another."""
    return f"datasets-{installed_version('datasets')}"


def activation_checkpointing_arguments(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``TrainingArguments`` keywords that turn activation checkpointing on with
    ``torch.utils.checkpoint`` ``kwargs``: ``activation_checkpointing(_kwargs)`` from
    transformers 5.25, ``gradient_checkpointing(_kwargs)`` before (a deprecated alias there,
    which warns in the user's session)."""
    from transformers import TrainingArguments

    name = "activation_checkpointing" if "activation_checkpointing" in TrainingArguments.__dataclass_fields__ \
        else "gradient_checkpointing"
    return {name: True, f"{name}_kwargs": kwargs}


def enable_activation_checkpointing(model: Any, kwargs: dict[str, Any]) -> None:
    """Recompute activations in backward, with ``torch.utils.checkpoint`` ``kwargs``, through
    the method the installed transformers names for it (``activation_checkpointing_enable``
    from 5.25, ``gradient_checkpointing_enable`` before)."""
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
