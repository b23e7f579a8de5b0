"""The reference workload: where MRPC and the model come from, tokenization, batching, metric.

``sources`` and ``data_files`` are torch-free (Hub reachability, the embedded model's folder,
a local folder's split files and content hash); the other modules
import the ML stack and are loaded only when a fixture or run needs them.
"""
