"""``pytest-finetune``: the command line (run, diff)."""
from pytest_finetune.cli.main import main

__all__ = ["main"]
