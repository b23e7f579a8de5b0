"""GLUE MRPC as a ``Task``: the reference workload, exactly as it ran before tasks existed.

Every method delegates to the ``mrpc`` package, unchanged, so MRPC's numbers, caches,
baselines and fingerprints stay what they were (its tiny slice is the first N pairs).
"""
from __future__ import annotations

from typing import Any

from pytest_finetune.mrpc.sources import HUB_SOURCE

# Our own sentence pairs (not MRPC's, whose licence forbids copies in the repo): the inputs
# of the untrained model's logits fingerprint.
FIXED_PAIRS = [
    ("The cat sat on the mat .", "A cat was sitting on the mat ."),
    ("Shares rose 5 percent on Tuesday .", "The company reported a loss ."),
    ("He said he would not run again .", '" I will not run again , " he said .'),
    ("Prices fell .", "Prices went down sharply in early trading on Monday after the report ."),
]


class MrpcTask:
    name = "mrpc"
    source = None  # built in: its definition is this package's code
    num_labels = 2
    metric_names = ("accuracy", "f1")

    def data_source(self, data: str) -> str:
        return str(data) if data else HUB_SOURCE

    def describe_source(self, data: str) -> str:
        from pytest_finetune.mrpc.data_files import describe_source

        return describe_source(data)

    def check(self, data: str) -> None:
        self.describe_source(data)  # hub: named only; a folder: its split files, read

    def load(self, data: str, cache_dir: str | None = None) -> Any:
        from pytest_finetune.mrpc.data import load_mrpc

        return load_mrpc(data, cache_dir)

    def tokenize(self, raw: Any, tokenizer: Any, max_length: int | None = None) -> Any:
        from pytest_finetune.mrpc.preprocessing import model_inputs, tokenize_mrpc

        return model_inputs(tokenize_mrpc(raw, tokenizer, max_length))

    def limit(self, split: Any, count: int) -> Any:
        return split.select(range(min(count, len(split))))

    def load_model(self, model: str | None, trust_remote_code: bool = False, **overrides: Any) -> Any:
        from pytest_finetune.mrpc.modeling import load_model

        return load_model(model, num_labels=2, trust_remote_code=trust_remote_code, **overrides)

    def collator(self, tokenizer: Any) -> Any:
        from pytest_finetune.mrpc.preprocessing import make_collator

        return make_collator(tokenizer)

    def metric(self) -> Any:
        from pytest_finetune.mrpc.metric import choose_metric

        return choose_metric()

    def predictions(self, logits: Any) -> Any:
        return logits.argmax(-1)

    def example_text(self, row: dict[str, Any]) -> str:
        return f"{row['sentence1']} | {row['sentence2']}"

    def __repr__(self) -> str:
        return "MrpcTask()"


MRPC = MrpcTask()
