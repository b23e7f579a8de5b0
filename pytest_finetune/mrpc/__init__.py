"""The reference workload: where MRPC and the model come from, tokenization, batching, metric.

``sources`` is torch-free (Hub reachability, the embedded model's folder); the other modules
import the ML stack and are loaded only when a fixture or run needs them.
"""
