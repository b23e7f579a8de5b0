"""A scenario names what a baseline is valid for: task, model, runner, profile, device, precision.

Seeds are not part of it (a baseline summarizes several seeds); the length-grouped sampler
is, so baselines made with and without it never mix. A user's runner or task adds its
identity (``runner_source``, ``task_source``: digests of its code or definition) to the
scenario but not to the file name: an edited runner finds its old baseline and fails
against it, saying what changed, instead of silently passing or looking unrecorded.
"""
from __future__ import annotations

import re

# model_label names a model by its content; it lives with the model sources (runs' stored
# records use it too) and is re-exported here, where scenario names are built.
from pytest_finetune.mrpc.model_files import EMBEDDED_DIGEST, EMBEDDED_LABEL, model_digest, model_label  # noqa: F401
from pytest_finetune.runs.config import RunConfig

TASK = "mrpc"  # the built-in task (tasks.builtin.MRPC), the default of every run
IDENTITY_KEYS = ("runner_source", "task_source")


def device_label(device: str) -> str:
    """``cpu``, or ``cuda-sm90`` style: GPU numbers depend on the compute capability."""
    if device != "cuda":
        return device
    import torch

    major, minor = torch.cuda.get_device_capability(0)
    return f"cuda-sm{major}{minor}"


def scenario_of(config: RunConfig, device: str) -> dict[str, str]:
    scenario = {
        "task": config.task,
        "model": model_label(config.model),
        "runner": config.runner,
        "profile": config.profile,
        "device": device_label(device),
        "precision": "fp32" if config.precision == "no" else config.precision,
    }
    if config.group_by_length:
        scenario["sampler"] = "group_by_length"
    for key in IDENTITY_KEYS:
        if getattr(config, key):
            scenario[key] = getattr(config, key)
    return scenario


def without_identity(scenario: dict[str, str]) -> dict[str, str]:
    """The scenario as its file name sees it: without the user code's digests."""
    return {key: value for key, value in scenario.items() if key not in IDENTITY_KEYS}


def identity_changes(stored: dict[str, str], now: dict[str, str]) -> list[str]:
    """How the runner's code or the task's definition differs from the baseline's, as
    failure lines (empty when they are the same)."""
    changes = []
    for key, what, name in (("runner_source", "runner", "runner"), ("task_source", "task", "task")):
        old, new = stored.get(key), now.get(key)
        if old != new:
            describe = "code" if what == "runner" else "definition (columns, labels, file formats)"
            changes.append(f"{what} {now.get(name)}: its {describe} changed since the baseline was recorded "
                           f"(digest {old or 'none'} -> {new or 'none'}); a record of other code is not a "
                           "baseline for it: re-record with --finetune-update-baselines if the change is "
                           "intended")
    return changes


def scenario_name(scenario: dict[str, str]) -> str:
    parts = [str(scenario.get(k, "unknown")) for k in ("task", "model", "runner", "profile", "device", "precision")]
    if "sampler" in scenario:
        parts.append(str(scenario["sampler"]))
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(parts))
