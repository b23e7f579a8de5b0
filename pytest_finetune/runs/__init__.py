"""Fine-tuning runs: one config type, one result type, two runners (Trainer, manual loop)."""
from .config import RunConfig, profile_config
from .result import RunResult
from .execute import execute_run

__all__ = ["RunConfig", "RunResult", "execute_run", "profile_config"]
