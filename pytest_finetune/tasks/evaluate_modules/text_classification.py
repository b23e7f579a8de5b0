"""Accuracy plus F1 of a text classifier, as one local ``evaluate`` module.

Config ``binary``: F1 of label id 1 (scikit-learn's ``f1_score``, as the Hub's ``f1`` module
computes it by default); config ``macro``: the unweighted mean of every label's F1
(``average="macro"``), reported as ``f1_macro``. The numbers are those of the Hub's
``accuracy`` and ``f1`` modules; this copy works offline and keeps ``add_batch``/``compute``.
"""
import datasets
import evaluate
from sklearn.metrics import f1_score


class TextClassification(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Accuracy and F1 (binary: of label 1; macro: mean over labels).",
            citation="scikit-learn f1_score",
            inputs_description="predictions and references: lists of label ids",
            features=datasets.Features(
                {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
            ),
            format="numpy",
        )

    def _compute(self, predictions, references):
        accuracy = float((predictions == references).mean())
        if self.config_name == "macro":
            return {"accuracy": accuracy,
                    "f1_macro": float(f1_score(y_true=references, y_pred=predictions, average="macro"))}
        return {"accuracy": accuracy, "f1": float(f1_score(y_true=references, y_pred=predictions))}
