"""pytest-finetune: regression guards for Hugging Face fine-tuning (GLUE MRPC).

The plugin (fixtures, markers, options) loads through the ``pytest11`` entry point; this
package's top level offers what tests import directly.
"""
from .assertions import (assert_collated_shapes, assert_loss_decreases, assert_metrics_close,
                         assert_not_collapsed, assert_params_changed)
from .errors import BaselineError, ConfigError, DataError, FinetuneError, ModelError, NonFiniteLossError
from .runs import RunConfig, RunResult, execute_run, profile_config

__version__ = "0.1.0"
__all__ = [
    "BaselineError", "ConfigError", "DataError", "FinetuneError", "ModelError", "NonFiniteLossError",
    "RunConfig", "RunResult", "assert_collated_shapes", "assert_loss_decreases", "assert_metrics_close",
    "assert_not_collapsed", "assert_params_changed", "execute_run", "profile_config",
]
