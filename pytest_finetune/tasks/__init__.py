"""Tasks: what is fine-tuned on, behind one protocol (``tasks.base.Task``).

The built-in GLUE MRPC (``tasks.builtin.MRPC``, the default) and text classification on the
user's own files (``tasks.text_classification.TextClassification``). Importing this package
imports neither torch nor datasets: a conftest.py that defines a task stays cheap to load.
"""
