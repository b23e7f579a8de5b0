"""Synthetic records for tests that judge results without training: one factory, so every
test builds a RunResult the same way (and a schema change is made here once)."""
from __future__ import annotations

from typing import Any

from pytest_finetune.runs import RunResult, profile_config

HARDWARE = {"machine": "x86_64", "cpu_count": 2, "torch_threads": 2, "cpu_capability": "AVX2"}


def make_result(profile: str = "tiny", runner: str = "loop", seed: int = 42, losses=None, accuracy: float = 0.75,
                f1: float = 0.8, eval_losses=None, logits=None, n_eval: int = 32, **changes: Any) -> RunResult:
    """A tiny-profile-shaped run: 20 steps, 5 evaluated epochs, 2 fixed-batch logit rows."""
    config = profile_config(profile, runner=runner, seed=seed)
    losses = losses or [0.7 - 0.02 * i for i in range(20)]
    eval_losses = eval_losses or [0.68 - 0.01 * i for i in range(5)]
    history = [{"epoch": float(i + 1), "accuracy": accuracy, "f1": f1, "eval_loss": e}
               for i, e in enumerate(eval_losses)]
    fields = dict(config=config, device="cpu", losses=list(losses), learning_rates=[1e-4] * len(losses),
                  eval_history=history, accuracy=accuracy, f1=f1, prediction_counts=[n_eval // 4, n_eval - n_eval // 4],
                  param_delta=0.01, train_examples=32, wall_time_s=1.0, train_time_s=1.0, examples_per_s=1.0,
                  eval_logits=logits or [[0.1, -0.2], [0.3, 0.05]], versions={"torch": "2.13.0"},
                  hardware=dict(HARDWARE))
    fields.update(changes)
    return RunResult(**fields)
