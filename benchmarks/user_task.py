#!/usr/bin/env python
"""Benchmark: a tiny run of a user's task costs no more than a tiny MRPC run.

One process, the embedded all-MiniLM-L6-v2, the tiny profile (32 train / 32 eval examples
cut to 32 tokens, 5 epochs of batch 8: 20 optimizer steps) on both sides:

- MRPC with the built-in runners ``trainer`` and ``loop``;
- a 3-label text-classification task from CSV files (synthetic support tickets,
  ``tests/synthetic_texts.py``; 96 train / 48 validation rows) with a user's ``Trainer``
  subclass overriding ``compute_loss`` and a user's own training function (``LoopRun``).

Each variant runs ``--repeats`` times in alternating order after an untimed warm-up of
each (data validated, cached and tokenized once); the best time of ``execute_run`` counts
(model loading and the fixed-batch logits included, as in a test), and the range is shown.
Two clocks: wall time, and this process's CPU time, which other processes on a shared
machine disturb far less (``--threads 1``, the default, keeps torch from spinning threads
that wait for a busy core). Prints the load average: other processes make every number noisy.

    python benchmarks/user_task.py [--repeats 3] [--threads 1]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import torch  # noqa: E402

from pytest_finetune import TextClassification  # noqa: E402
from pytest_finetune.runs import profile_config  # noqa: E402
from pytest_finetune.runs.execute import execute_run  # noqa: E402
from pytest_finetune.runs.runners import Registry, bind  # noqa: E402
from synthetic_texts import write_ticket_files  # noqa: E402
from user_training import WeightedLossTrainer, train_my_way  # noqa: E402  (the tutorial's code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default: %(default)s)")
    parser.add_argument("--data", default=os.environ.get("PYTEST_FINETUNE_MRPC_DIR", str(REPO.parent / "shared/data/mrpc")))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"load average at start: {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()}, torch threads: "
          f"{torch.get_num_threads()})")
    with tempfile.TemporaryDirectory() as scratch:
        train, dev = write_ticket_files(Path(scratch) / "data")
        registry = Registry()
        registry.add_task("tickets", TextClassification("tickets", train=train, validation=dev))
        variants = {("mrpc", "trainer"): args.data, ("mrpc", "loop"): args.data,
                    ("tickets", WeightedLossTrainer): "", ("tickets", train_my_way): ""}
        configs = {}
        for (task, runner), data in variants.items():
            bound = bind(registry, runner, task, data)
            configs[(task, bound["runner"])] = profile_config("tiny", **bound, device="cpu")
        times: dict[tuple[str, str], list[tuple[float, float]]] = {key: [] for key in configs}
        cache = str(Path(scratch) / "cache")
        for key, config in configs.items():  # warm-up: validation, caches, tokenization
            execute_run(config, cache_dir=cache, registry=registry)
        order = list(configs)
        for repeat in range(args.repeats):
            for key in (order if repeat % 2 == 0 else order[::-1]):
                started, cpu = time.perf_counter(), time.process_time()
                result = execute_run(configs[key], cache_dir=cache, registry=registry)
                times[key].append((time.perf_counter() - started, time.process_time() - cpu))
                assert len(result.losses) == 20
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    print(f"{'task':8} {'runner':20} {'wall best s':>11} {'wall range s':>14} {'cpu best s':>10} {'cpu range s':>14}")
    best = {}
    for (task, runner), values in times.items():
        walls, cpus = [w for w, _ in values], [c for _, c in values]
        best[(task, runner)] = (min(walls), min(cpus))
        print(f"{task:8} {runner:20} {min(walls):11.2f} {min(walls):6.2f}-{max(walls):6.2f} "
              f"{min(cpus):10.2f} {min(cpus):6.2f}-{max(cpus):6.2f}")
    for mine, theirs in ((("tickets", "WeightedLossTrainer"), ("mrpc", "trainer")),
                         (("tickets", "train_my_way"), ("mrpc", "loop"))):
        print(f"{mine[1]} on tickets / {theirs[1]} on MRPC: wall {best[mine][0] / best[theirs][0]:.2f}x, "
              f"cpu {best[mine][1] / best[theirs][1]:.2f}x")


if __name__ == "__main__":
    main()
