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


def hardware_info() -> dict[str, Any]:
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
    """What a runner hands back: the same fields from every runner (``runs.runners.Runner``),
    so ``execute_run`` packages all alike and the parity check compares like with like."""

    losses: list[float]  # training loss per optimizer step
    learning_rates: list[float]  # learning rate used at each optimizer step
    history: list[dict[str, float]]  # per epoch: epoch, the task's metrics, eval_loss
    predictions: list[int]  # predicted class per eval example, after the last epoch
    model: Any  # the trained model (for the weight-change measure)


def metrics_of(data: dict[str, Any]) -> dict[str, Any]:
    """A stored run's final metrics: the ``metrics`` mapping of today's records, or the
    ``accuracy`` and ``f1`` fields of records written before tasks had their own metrics."""
    if "metrics" in data:
        return data["metrics"]
    return {name: data[name] for name in ("accuracy", "f1") if name in data}


@dataclass(init=False)
class RunResult:
    """One run's outcome. ``metrics`` holds the task's final metrics by name (MRPC: accuracy
    and f1; a multi-class task: accuracy and f1_macro); ``accuracy`` and ``f1`` read them.

    Stored form: ``to_dict`` writes ``metrics`` as a mapping; ``from_dict`` also reads the
    records written before, whose ``accuracy`` and ``f1`` were fields of their own.
    """

    config: RunConfig
    device: str  # where it actually ran: "cpu" or "cuda"
    losses: list[float]  # training loss per optimizer step
    learning_rates: list[float]
    eval_history: list[dict[str, float]]  # per epoch: epoch, the task's metrics, eval_loss
    metrics: dict[str, float]
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
    hardware: dict[str, Any] = field(default_factory=dict)
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

    def __init__(self, config: RunConfig, device: str, losses: list[float], learning_rates: list[float],
                 eval_history: list[dict[str, float]], prediction_counts: list[int], param_delta: float,
                 train_examples: int, wall_time_s: float, train_time_s: float, examples_per_s: float,
                 metrics: dict[str, float] | None = None, eval_logits: list[list[float]] | None = None,
                 versions: dict[str, str] | None = None, hardware: dict[str, Any] | None = None,
                 data_source: str | None = None, model_source: str | None = None,
                 metric_source: str | None = None, **legacy: float) -> None:
        unknown = sorted(set(legacy) - {"accuracy", "f1"})
        if unknown:
            raise TypeError(f"RunResult() got unexpected keyword argument(s) {', '.join(unknown)}")
        self.config, self.device, self.losses, self.learning_rates = config, device, losses, learning_rates
        self.eval_history = eval_history
        self.metrics = dict(metrics) if metrics is not None else {k: float(v) for k, v in legacy.items()}
        self.prediction_counts, self.param_delta, self.train_examples = prediction_counts, param_delta, train_examples
        self.wall_time_s, self.train_time_s, self.examples_per_s = wall_time_s, train_time_s, examples_per_s
        self.eval_logits = [] if eval_logits is None else eval_logits
        self.versions = library_versions() if versions is None else versions
        self.hardware = hardware_info() if hardware is None else hardware
        self.data_source, self.model_source, self.metric_source = data_source, model_source, metric_source

    @property
    def accuracy(self) -> float:
        return float(self.metrics["accuracy"])

    @property
    def f1(self) -> float:
        """F1 of a two-label task; a task of more labels records ``f1_macro`` instead."""
        return float(self.metrics["f1"] if "f1" in self.metrics else self.metrics["f1_macro"])

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
        data["metrics"] = dict(metrics_of(data))
        data.pop("accuracy", None), data.pop("f1", None)
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
