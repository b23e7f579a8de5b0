"""GLUE's MRPC metric (accuracy and binary F1) as a local ``evaluate`` module.

``evaluate.load("glue", "mrpc")`` fetches its script from the Hub; this module computes
the same two numbers the same way (``(preds == labels).mean()`` and scikit-learn's
``f1_score``), so it works offline and keeps ``add_batch``/``compute`` semantics.
"""
import datasets
import evaluate
from sklearn.metrics import f1_score


class GlueMrpc(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="GLUE MRPC: accuracy and F1 of the positive (paraphrase) class.",
            citation="Wang et al., GLUE, 2019",
            inputs_description="predictions and references: lists of 0/1 labels",
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
            format="numpy",
        )

    def _compute(self, predictions, references):
        return {
            "accuracy": float((predictions == references).mean()),
            "f1": float(f1_score(y_true=references, y_pred=predictions)),
        }
