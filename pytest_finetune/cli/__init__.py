"""``pytest-finetune``: the command line (run, check, diff)."""
from pytest_finetune.cli.main import main

__all__ = ["main"]
