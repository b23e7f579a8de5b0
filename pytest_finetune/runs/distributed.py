"""A run on several processes, launched with the libraries' own launchers.

``RunConfig.processes = N`` trains the run on ``N`` processes of this machine, each with
``batch_size`` examples per step (so ``N x batch_size`` per optimizer step), as a team
trains on several GPUs; the distributed invariant compares it step by step with one process
at ``N x batch_size``. The launcher is the one the runner's library documents:

- a ``Trainer`` runner (stock or the user's): ``torchrun --nproc_per_node N``;
- a loop runner (the built-in loop, a training function): ``accelerate launch --multi_gpu
  --num_processes N``.

Both start ``python -m pytest_finetune.runs.worker`` in each process; the processes find one
another through the environment the launcher sets (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``,
``MASTER_PORT``) and train on the ``gloo`` backend on CPU, ``nccl`` on GPUs (``Accelerator``
inside them is ``MULTI_CPU`` or ``MULTI_GPU``). On a machine without GPUs ``accelerate
launch --cpu --num_processes N`` starts one process (its CPU path needs MPI), while
``--multi_gpu`` starts ``N`` torch processes that find no GPU and run on the CPU: that is the
form used here, and on a GPU machine it is the ordinary multi-GPU launch. The user's runner
and task travel to the processes by pickle (classes and functions by their module and name,
which the processes import with this session's ``sys.path``; a task object by value).
Rank 0 writes the ``RunResult``; the losses it holds are each step's loss averaged over the
processes, and the evaluation covers the whole eval split (gathered from every process).

Across machines, or on GPUs, the same worker runs under an accelerate config file:
``docs/distributed.md``.
"""
from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pytest_finetune.errors import ConfigError, FinetuneError
from pytest_finetune.runs.config import RunConfig
from pytest_finetune.runs.result import RunResult
from pytest_finetune.runs.runners import BUILTIN_RUNNERS, BUILTIN_TASKS, Registry

WORKER = "pytest_finetune.runs.worker"
_TAIL_LINES = 12


def free_port() -> int:
    """A TCP port free on this machine now (other sessions may run launchers of their own)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launcher_command(kind: str, processes: int, precision: str, port: int) -> list[str]:
    """The launch command for a runner of ``kind`` (``trainer`` or ``loop``), up to the
    module it runs (the worker's arguments follow)."""
    if kind == "trainer":
        return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
                "--master_addr", "127.0.0.1", "--master_port", str(port), "-m", WORKER]
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
            "--num_machines", "1", "--mixed_precision", precision, "--dynamo_backend", "no",
            "--main_process_ip", "127.0.0.1", "--main_process_port", str(port), "-m", WORKER]


def _spec(config: RunConfig, registry: Registry, cache_dir: str | None, verbose: bool) -> bytes:
    """What the worker needs, pickled: the config, the runner and task objects unless built in."""
    runner, task = registry.runner(config.runner), registry.task(config.task)
    spec: dict[str, Any] = {"config": config, "cache_dir": cache_dir, "verbose": verbose,
                            "runner": None if config.runner in BUILTIN_RUNNERS else runner,
                            "task": None if config.task in BUILTIN_TASKS else task}
    try:
        return pickle.dumps(spec)
    except Exception as exc:  # a lambda, a class defined inside a function, an open file
        raise ConfigError(f"runner {config.runner} on task {config.task}: a run on {config.processes} processes "
                          "imports the runner and task in each process, so they must be picklable (defined at "
                          f"the top level of an importable module): {type(exc).__name__}: {exc}") from None


def _environment(processes: int) -> dict[str, str]:
    env = dict(os.environ)
    paths = [entry for entry in sys.path if entry and os.path.isdir(entry)]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([os.getcwd(), *paths]))
    # The processes share the machine's cores (torchrun would set 1 and say so).
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // processes)))
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)  # this session may itself be one process of a launch
    return env


def launch(config: RunConfig, registry: Registry, cache_dir: str | None = None, verbose: bool = False) -> RunResult:
    """Train ``config`` on ``config.processes`` processes; rank 0's ``RunResult``."""
    kind = registry.runner(config.runner).kind
    spec = _spec(config, registry, cache_dir, verbose)
    with tempfile.TemporaryDirectory(prefix="pytest-finetune-launch-") as folder:
        spec_file, out_file = Path(folder) / "spec.pkl", Path(folder) / "result.json"
        spec_file.write_bytes(spec)
        command = launcher_command(kind, config.processes, config.precision, free_port())
        started = time.perf_counter()
        done = subprocess.run([*command, str(spec_file), str(out_file)], env=_environment(config.processes),
                              capture_output=True, text=True)
        if done.returncode != 0 or not out_file.is_file():
            raise FinetuneError(_failure(config, command, done))
        result = RunResult.from_json(out_file.read_text(encoding="utf-8"))
    result.config = config  # the stored form holds descriptions where paths were
    result.wall_time_s = time.perf_counter() - started
    return result


def _failure(config: RunConfig, command: list[str], done: subprocess.CompletedProcess) -> str:
    """One line saying what failed, then the processes' last lines (their own errors)."""
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    marked = [line for line in lines if line.startswith("pytest-finetune worker:")]
    reason = marked[-1].split(":", 1)[1].strip() if marked else f"exit status {done.returncode}"
    shown = " ".join(command[2:6]) + " ..."
    tail = "\n".join(f"    {line}" for line in lines[-_TAIL_LINES:])
    return (f"{config.runner} run on {config.processes} processes ({shown}) failed: {reason}\n"
            f"  last lines of its output:\n{tail}")
