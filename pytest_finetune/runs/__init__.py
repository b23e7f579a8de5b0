"""Fine-tuning runs: one config type, one result type, two runners (Trainer, manual loop).

``execute_run`` is imported on first use: it pulls in torch, transformers and accelerate,
which configuring a session or reading a baseline does not need.
"""
from __future__ import annotations

from typing import Any

from pytest_finetune.runs.config import RunConfig, profile_config
from pytest_finetune.runs.result import RunResult

__all__ = ["RunConfig", "RunResult", "execute_run", "profile_config"]


def __getattr__(name: str) -> Any:
    if name == "execute_run":
        from pytest_finetune.runs.execute import execute_run

        return execute_run
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
