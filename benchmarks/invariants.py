#!/usr/bin/env python
"""Benchmark: how far equivalent configurations move in units of the measured noise, and what
the invariants cost.

For each family (``pytest_finetune.invariants.families``), runner and task it trains the
reference, the variant and the reference's two noise probes (as ``finetune_invariant``
does, through one in-process run cache), and prints per signal the largest move in units of
the envelope: the numbers the factor in ``pytest_finetune/invariants/README.md`` rests on.
``--controls`` runs the positive controls too (a bug of each family's kind, which must fail
it, for the reason it names), and the user runners of the issue: a ``Trainer`` subclass whose
``compute_loss`` ignores ``num_items_in_batch`` and the same normalizing correctly.

    python benchmarks/invariants.py                                   # every family, trainer + loop, both tasks
    python benchmarks/invariants.py --families accumulation distributed --tasks mrpc-lm
    python benchmarks/invariants.py --controls --out invariants.jsonl

The tiny models (2-layer BERT for MRPC, 2-layer GPT-2 for the causal-LM task) on the tiny
profile's 32 train / 32 eval examples, 3 epochs of batch 8 (12 steps): the configuration of
this repo's invariant tests. Prints the load average: other processes stretch the times.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from pytest_finetune.invariants.check import check_invariant, pinned_config  # noqa: E402
from pytest_finetune.invariants.families import FAMILIES  # noqa: E402
from pytest_finetune.runs import profile_config  # noqa: E402
from pytest_finetune.runs.runners import Registry, bind  # noqa: E402
from pytest_finetune.tasks.base import level_of  # noqa: E402

MODELS = {"mrpc": "tiny-random-bert", "mrpc-lm": "tiny-random-gpt2"}
BASE = dict(epochs=3, device="cpu")
# A bug of each family's kind (runs.perturb): (family, perturbation, what the cause must name)
CONTROLS = [
    ("accumulation", "accum_unscaled", "accumulation normalization"),
    ("eval_batch", "eval_no_mask", "depends on how the eval split is batched"),
    ("checkpointing", "checkpoint_no_rng", "RNG state is not preserved"),
    ("attention", "sdpa_no_mask", "padding mask"),
    ("resume", "resume_drop_rng", "dropout masks (RNG"),
    ("distributed", "world_unscaled", "not averaged across processes"),
]


def base_config(registry: Registry, runner: str, task: str, data: str):
    bound = bind(registry, runner, task, data)
    settings = (bound.pop("task_settings") or {}).get("tiny", {})
    bound.pop("default_model")
    return profile_config("tiny", model=MODELS[task], **{**bound, **settings, **BASE})


class Runs:
    """The session's run cache, in-process: each configuration trains once."""

    def __init__(self, registry: Registry) -> None:
        self.registry, self.cache, self.trained = registry, {}, 0.0

    def __call__(self, config):
        from pytest_finetune.runs.execute import execute_run

        if config.key() not in self.cache:
            started = time.perf_counter()
            self.cache[config.key()] = execute_run(config, registry=self.registry)
            self.trained += time.perf_counter() - started
        return self.cache[config.key()]


def one(runs: Runs, family: str, runner: str, task: str, data: str, perturb=()) -> dict:
    chosen = FAMILIES[family]
    config = base_config(runs.registry, runner, task, data).replace(perturb=perturb)
    config = pinned_config(chosen, config, {})
    before = runs.trained
    outcome = check_invariant(family, config, runs, level=level_of(runs.registry.task(task)),
                              runner_kind=runs.registry.runner(runner).kind)
    first = outcome.comparison.first
    cause = chosen.causes(first, outcome.reference.config, outcome.variant.config, outcome.level) if first else ""
    rows = {row.signal: row.worst for row in outcome.comparison.rows}
    return {"family": family, "runner": runner, "task": task, "perturb": [list(p) for p in perturb],
            "holds": outcome.holds, "rows": rows, "seconds": round(runs.trained - before, 1),
            "message": outcome.message() if not outcome.holds else outcome.headline(), "cause": cause,
            "known": [issue.id for issue in outcome.known]}


def user_runners(registry: Registry) -> list[str]:
    from user_trainers import IgnoresItemsTrainer, NormalizedLossTrainer, resumable_course_loop

    for obj in (IgnoresItemsTrainer, NormalizedLossTrainer, resumable_course_loop):
        registry.runner(obj)
    return ["IgnoresItemsTrainer", "NormalizedLossTrainer", "resumable_course_loop"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--runners", nargs="+", default=["trainer", "loop"])
    parser.add_argument("--tasks", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--controls", action="store_true", help="also the positive controls and user runners")
    parser.add_argument("--controls-only", action="store_true", help="only the positive controls and user runners")
    parser.add_argument("--users-only", action="store_true", help="only the user runners (tests/user_trainers.py)")
    parser.add_argument("--data", default=os.environ.get("PYTEST_FINETUNE_MRPC_DIR") or str(REPO.parent / "shared/data/mrpc"))
    parser.add_argument("--out", help="append one JSON line per invariant")
    args = parser.parse_args()
    import torch
    import transformers

    print(f"load average {os.getloadavg()[0]:.2f}; torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"transformers {transformers.__version__}", flush=True)
    runs = Runs(Registry())
    import accelerate

    versions = {"torch": torch.__version__, "transformers": transformers.__version__,
                "accelerate": accelerate.__version__, "threads": torch.get_num_threads()}
    only = args.controls_only or args.users_only
    cases = [] if only else [(f, r, t, ()) for t in args.tasks for f in args.families for r in args.runners]
    if args.controls or only:
        if not args.users_only:
            cases += [(f, r, t, ((kind, 1),)) for t in args.tasks for f, kind, _ in CONTROLS if f in args.families
                      for r in args.runners]
        users = user_runners(runs.registry)
        cases += [(f, r, "mrpc", ()) for r in users[:2] for f in ("accumulation", "distributed") if f in args.families]
        cases += [(f, users[2], t, ()) for t in args.tasks for f in ("resume", "accumulation") if f in args.families]
    for family, runner, task, perturb in cases:
        found = one(runs, family, runner, task, args.data, perturb)
        found["versions"] = versions
        worst = {k: v for k, v in found["rows"].items() if v}
        shown = ", ".join(f"{k} {v:.2g}" for k, v in worst.items())
        control = f" [{perturb[0][0]}]" if perturb else ""
        print(f"{family:13} {task:8} {runner:22}{control:20} {'holds' if found['holds'] else 'FAILS':5} "
              f"{found['seconds']:6.1f}s  {shown}", flush=True)
        if not found["holds"]:
            print("    " + found["message"].replace("\n", "\n    "), flush=True)
        if args.out:
            with open(args.out, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(found) + "\n")
    print(f"trained {len(runs.cache)} runs in {runs.trained:.0f} s; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
