"""One process of a run on several processes (``runs.distributed``): ``python -m
pytest_finetune.runs.worker SPEC OUT``, started by torchrun or ``accelerate launch``.

Reads the pickled spec (the ``RunConfig``, and the user's runner and task objects unless
built in), trains with ``execute_run`` like any run (the launcher's environment makes it
one rank of the process group) and, on rank 0, writes the ``RunResult`` to ``OUT``. A
failure is one line starting ``pytest-finetune worker:``, which the launching session
shows.
"""
from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    spec_file, out_file = (argv if argv is not None else sys.argv[1:])[:2]
    from pytest_finetune.errors import FinetuneError
    from pytest_finetune.runs.execute import execute_run
    from pytest_finetune.runs.runners import Registry

    spec = pickle.loads(Path(spec_file).read_bytes())
    config, registry = spec["config"], Registry()
    try:
        if spec["runner"] is not None:
            registry.add_runner(config.runner, spec["runner"])
        if spec["task"] is not None:
            registry.add_task(config.task, spec["task"])
        result = execute_run(config, cache_dir=spec["cache_dir"], verbose=spec["verbose"], registry=registry)
    except FinetuneError as exc:
        print(f"pytest-finetune worker: rank {os.environ.get('RANK', '?')}: {exc}", file=sys.stderr, flush=True)
        return 1
    if os.environ.get("RANK", "0") == "0":
        result.save(out_file)
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
