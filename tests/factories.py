"""Builders the tests share: one ``make_result()`` instead of a RunResult built by hand in
each file (a schema change is made here once), and the smallest GLUE TSV folder (made-up
pairs: MRPC's licence forbids copies)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_finetune.runs import RunResult, profile_config

HARDWARE = {"machine": "x86_64", "cpu_count": 2, "torch_threads": 2, "cpu_capability": "AVX2"}
TSV_HEADER = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
TSV_ROWS = "1\t1\t2\tA cat sat .\tA cat sat down .\n0\t3\t4\tPrices fell .\tHe left .\n"


def make_result(profile: str = "tiny", runner: str = "loop", seed: int = 42, losses=None, accuracy: float = 0.75,
                f1: float = 0.8, eval_losses=None, logits=None, n_eval: int = 32, **changes: Any) -> RunResult:
    """A tiny-profile-shaped run with made-up numbers: 20 steps, 5 evaluated epochs, 2
    fixed-batch logit rows, ``n_eval`` eval predictions; ``changes`` sets RunResult fields."""
    config = profile_config(profile, runner=runner, seed=seed)
    losses = losses or [0.7 - 0.02 * i for i in range(20)]
    eval_losses = eval_losses or [0.68 - 0.01 * i for i in range(5)]
    history = [{"epoch": float(i + 1), "accuracy": accuracy, "f1": f1, "eval_loss": e}
               for i, e in enumerate(eval_losses)]
    fields = dict(config=config, device="cpu", losses=list(losses), learning_rates=[1e-4] * len(losses),
                  eval_history=history, metrics={"accuracy": accuracy, "f1": f1}, prediction_counts=[n_eval // 4, n_eval - n_eval // 4],
                  param_delta=0.01, train_examples=32, wall_time_s=1.0, train_time_s=1.0, examples_per_s=1.0,
                  eval_logits=logits or [[0.1, -0.2], [0.3, 0.05]], versions={"torch": "2.13.0"},
                  hardware=dict(HARDWARE), data_source="glue-tsv:sha256:0123456789abcdef",
                  metric_source="local:glue_mrpc.py")
    fields.update(changes)
    return RunResult(**fields)


def tsv_folder(folder: Path, dev_rows: str = TSV_ROWS) -> Path:
    """``train.tsv`` and ``dev.tsv`` with two pairs each (``dev_rows`` replaces dev's rows)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.tsv").write_text(TSV_HEADER + TSV_ROWS)
    (folder / "dev.tsv").write_text(TSV_HEADER + dev_rows)
    return folder
