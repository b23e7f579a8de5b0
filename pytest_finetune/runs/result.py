"""What a run produced, in a form that survives JSON and can be compared later."""
from __future__ import annotations

import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pytest_finetune._io import dumps_json, loads_json, write_json
from pytest_finetune.mrpc.data_files import describe_source
from pytest_finetune.mrpc.model_files import describe_model
from pytest_finetune.runs.config import RunConfig

VERSIONED_PACKAGES = ("torch", "transformers", "datasets", "evaluate", "accelerate", "tokenizers")


def library_versions() -> dict[str, str]:
    """The versions a baseline is only valid for; a diff of these explains most moves."""
    from pytest_finetune.compat.versions import installed_version

    found = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        found[name] = installed_version(name) or "not installed"
    return found


def version_changes(old: dict[str, str], new: dict[str, str]) -> dict[str, tuple[str | None, str | None]]:
    """``{package: (old, new)}`` for every version that differs between two records."""
    return {name: (old.get(name), new.get(name)) for name in sorted(old.keys() | new.keys())
            if old.get(name) != new.get(name)}


def hardware() -> dict[str, Any]:
    import os

    import torch

    info: dict[str, Any] = {"machine": platform.machine(), "cpu_count": os.cpu_count(),
                            "torch_threads": torch.get_num_threads(),
                            # the SIMD kernels torch picked (AVX2, AVX512, ...): same-seed runs are
                            # bit-identical only on the same kind
                            "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name(0)
        info["cuda_capability"] = ".".join(map(str, torch.cuda.get_device_capability(0)))
    return info


@dataclass
class RunnerOutput:
    """What a runner hands back: the same fields from the Trainer and the manual loop, so
    ``execute_run`` packages both alike and the parity check compares like with like."""

    losses: list[float]  # training loss per optimizer step
    learning_rates: list[float]  # learning rate used at each optimizer step
    history: list[dict[str, float]]  # per epoch: epoch, accuracy, f1, eval_loss
    predictions: list[int]  # predicted class per eval example, after the last epoch
    model: Any  # the trained model (for the weight-change measure)


@dataclass
class RunResult:
    config: RunConfig
    device: str  # where it actually ran: "cpu" or "cuda"
    losses: list[float]  # training loss per optimizer step
    learning_rates: list[float]
    eval_history: list[dict[str, float]]  # per epoch: epoch, accuracy, f1, eval_loss
    accuracy: float
    f1: float
    prediction_counts: list[int]  # how often each class was predicted on the eval split
    param_delta: float  # relative L2 change of the weights during training
    train_examples: int
    wall_time_s: float
    train_time_s: float
    examples_per_s: float
    # logits of the first eval pairs after training (runs.prepare.FIXED_EVAL_PAIRS); empty in
    # results saved before they were recorded
    eval_logits: list[list[float]] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=library_versions)
    hardware: dict[str, Any] = field(default_factory=hardware)
    # What the data was (``mrpc.data_files.describe_source``: kind + content hash), not
    # where it lay: the stored record replaces ``config.data`` (a path) with it.
    data_source: str | None = None
    # Likewise the model (``mrpc.model_files.describe_model``): a local folder is stored as
    # its content label (``<folder name>-<digest>``), never as the path to it.
    model_source: str | None = None
    # Which GLUE/MRPC metric module computed accuracy/F1 (``mrpc.metric.choose_metric``):
    # "evaluate:glue/mrpc@<evaluate version>" or "local:glue_mrpc.py". None in records
    # written before it was recorded (those used the local module).
    metric_source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The record as stored (results, reports, baselines): no local path in it."""
        data = asdict(self)
        data["config"] = self.config.to_dict()
        data["config"]["data"] = data.pop("data_source") or describe_source(self.config.data)
        data["config"]["model"] = data.pop("model_source") or describe_model(self.config.model)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunResult":
        data = dict(data)
        data["config"] = RunConfig.from_dict(data["config"])
        data["data_source"] = data["config"].data
        data["model_source"] = data["config"].model
        return cls(**data)

    def to_json(self) -> str:
        return dumps_json(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> "RunResult":
        return cls.from_dict(loads_json(text))

    def save(self, path: str | Path) -> Path:
        return write_json(Path(path), self.to_dict())
