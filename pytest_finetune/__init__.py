"""pytest-finetune: regression guards for Hugging Face fine-tuning (your pipeline, or GLUE MRPC).

The plugin (fixtures, markers, options) loads through the ``pytest11`` entry point; this
package's top level offers what tests import directly.

Attributes are resolved on first use (PEP 562): pytest imports the plugin in every session
of every project where the package is installed, and importing torch, transformers and
datasets up front would add seconds to sessions that never fine-tune anything.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "assert_collated_shapes": "checks.assertions", "assert_loss_decreases": "checks.assertions",
    "assert_metrics_close": "checks.assertions", "assert_not_collapsed": "checks.assertions",
    "assert_params_changed": "checks.assertions",
    "properties": "checks", "strategies": "checks",
    "BaselineError": "errors", "ConfigError": "errors", "DataError": "errors",
    "FinetuneError": "errors", "ModelError": "errors", "NonFiniteLossError": "errors",
    "RunConfig": "runs", "RunResult": "runs", "execute_run": "runs", "profile_config": "runs",
    # your own pipeline: a task from your files, your Trainer subclass or training function
    "TextClassification": "tasks.text_classification", "trainer_factory": "runs.runners",
    "LoopRun": "runs.user_loop", "HarnessRecording": "runs.trainer",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'pytest_finetune' has no attribute {name!r}")
    module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
    value = getattr(module, name) if hasattr(module, name) else importlib.import_module(f".{name}", module.__name__)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
