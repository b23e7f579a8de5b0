"""Builders the tests share: one ``make_result()`` instead of a RunResult built by hand in
each file, and the smallest GLUE TSV folder (made-up pairs: MRPC's licence forbids copies)."""
from __future__ import annotations

from pathlib import Path

from pytest_finetune.runs import RunConfig, RunResult

TSV_HEADER = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
TSV_ROWS = "1\t1\t2\tA cat sat .\tA cat sat down .\n0\t3\t4\tPrices fell .\tHe left .\n"


def make_result(accuracy: float = 0.8, f1: float = 0.8, losses: list[float] | None = None,
                device: str = "cpu", model_source: str | None = None, hardware: dict | None = None,
                **config) -> RunResult:
    """A finished run's record with made-up numbers; ``config`` sets RunConfig fields."""
    return RunResult(config=RunConfig(**config), device=device,
                     losses=list(losses or [0.7, 0.6, 0.5, 0.4]), learning_rates=[1e-4] * 4,
                     eval_history=[{"epoch": 1.0, "accuracy": accuracy, "f1": f1, "eval_loss": 0.5}],
                     accuracy=accuracy, f1=f1, prediction_counts=[100, 308], param_delta=0.1,
                     train_examples=32, wall_time_s=1.0, train_time_s=1.0, examples_per_s=32.0,
                     versions={"torch": "2.13.0"}, hardware=hardware or {"machine": "x86_64"},
                     data_source="glue-tsv:sha256:0123456789abcdef", model_source=model_source,
                     metric_source="local:glue_mrpc.py")


def tsv_folder(folder: Path, dev_rows: str = TSV_ROWS) -> Path:
    """``train.tsv`` and ``dev.tsv`` with two pairs each (``dev_rows`` replaces dev's rows)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.tsv").write_text(TSV_HEADER + TSV_ROWS)
    (folder / "dev.tsv").write_text(TSV_HEADER + dev_rows)
    return folder
