"""A scenario names what a baseline is valid for: task, model, runner, profile, device, precision.

Seeds are not part of it (a baseline summarizes several seeds); the length-grouped sampler
is, so baselines made with and without it never mix.
"""
from __future__ import annotations

import re

# model_label names a model by its content; it lives with the model sources (runs' stored
# records use it too) and is re-exported here, where scenario names are built.
from pytest_finetune.mrpc.model_files import EMBEDDED_DIGEST, EMBEDDED_LABEL, model_digest, model_label  # noqa: F401
from pytest_finetune.runs.config import RunConfig

TASK = "mrpc"


def device_label(device: str) -> str:
    """``cpu``, or ``cuda-sm90`` style: GPU numbers depend on the compute capability."""
    if device != "cuda":
        return device
    import torch

    major, minor = torch.cuda.get_device_capability(0)
    return f"cuda-sm{major}{minor}"


def scenario_of(config: RunConfig, device: str) -> dict[str, str]:
    scenario = {
        "task": TASK,
        "model": model_label(config.model),
        "runner": config.runner,
        "profile": config.profile,
        "device": device_label(device),
        "precision": "fp32" if config.precision == "no" else config.precision,
    }
    if config.group_by_length:
        scenario["sampler"] = "group_by_length"
    return scenario


def scenario_name(scenario: dict[str, str]) -> str:
    parts = [str(scenario.get(k, "unknown")) for k in ("task", "model", "runner", "profile", "device", "precision")]
    if "sampler" in scenario:
        parts.append(str(scenario["sampler"]))
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(parts))
