"""Checkpoint and resume, as every runner does them, and what runs on several processes share.

A run with ``RunConfig.resume_at = m`` trains in two parts (``runs.execute``): the first
trains to optimizer step ``m``, saves a checkpoint and stops; the second starts from a fresh
model, optimizer and runner, restores everything from the checkpoint (weights, optimizer
and scheduler state, the RNG states, where the data order stood) and trains to the end.
Its ``RunResult`` holds both parts, so the resume invariant compares it step by step with
the uninterrupted run. How each runner saves and restores is its own (the Runner contract,
``runs.runners``):

- a ``Trainer`` (stock or the user's): Trainer's own checkpoint and
  ``train(resume_from_checkpoint=...)``;
- the built-in loop: accelerate's ``save_state`` / ``load_state``;
- a training function: ``LoopRun.checkpointing(optimizer, scheduler)`` (``runs.user_loop``),
  which saves at the asked step and restores through ``save_rng_states`` /
  ``restore_rng_states`` below.

Where the RNG state is saved and restored decides whether the resumed run draws the same
dropout masks: inside an epoch it is saved after the step and restored once the resumed
epoch's data iterator has started (``first_fetched_then_restored``); at an epoch boundary
it is saved after the epoch's evaluation and restored before the next epoch starts.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator


@dataclass
class Checkpoint:
    """What one part of a resumed run does with its checkpoint folder: save at ``save_at``
    and stop (first part), or resume from the checkpoint of step ``resumed_from`` (second);
    ``drop_rng``: a test hook (``runs.perturb``) that leaves the saved RNG state unrestored."""

    folder: str
    save_at: int | None = None
    resumed_from: int | None = None
    drop_rng: bool = False

    @property
    def resume(self) -> bool:
        return self.resumed_from is not None

    def trainer_folder(self) -> str:
        """Trainer's checkpoint of step ``resumed_from`` (``checkpoint-<step>``)."""
        folder = Path(self.folder) / f"checkpoint-{self.resumed_from}"
        if not folder.is_dir():
            raise FileNotFoundError(f"no Trainer checkpoint {folder}: the first part of the run saved none")
        self.forget_rng(folder, "rng_state*.pth")
        return str(folder)

    def forget_rng(self, folder: Path, pattern: str) -> None:
        """Under the ``resume_drop_rng`` test hook: remove the RNG files a resume would restore."""
        if self.drop_rng:
            for path in Path(folder).glob(pattern):
                path.unlink()


def save_rng_states() -> dict[str, Any]:
    """Every RNG a training step may draw from: Python's, NumPy's, torch's (CPU and CUDA)."""
    import numpy as np
    import torch

    states = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    import numpy as np
    import torch

    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def first_fetched_then_restored(batches: Any, states: dict[str, Any] | None) -> Iterator[Any]:
    """The batches of the epoch a run resumes inside, with the checkpoint's RNG ``states``
    restored after the first is fetched.

    A ``DataLoader`` draws its workers' base seed from the global torch RNG when its
    iterator starts, so states restored before that draw are one draw off by the first
    forward pass: dropout masks differ from the uninterrupted run's from the first resumed
    step. Trainer restores them after the iterator starts for the same reason; the resume
    invariant found this in the built-in loop. (At an epoch boundary the checkpoint is saved
    after the epoch's evaluation and restored before the next epoch's iterator starts, as in
    the uninterrupted run.) ``states`` None: nothing to restore (a test hook dropped them).
    """
    iterator = iter(batches)
    first = next(iterator, None)
    if states is not None:
        restore_rng_states(states)
    if first is not None:
        yield first
    yield from iterator


def mean_over_processes(value: float) -> float:
    """``value`` averaged over the processes of a distributed run (itself on one process):
    a step's loss as the whole batch saw it, which is what is compared with one process."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return value
    import torch

    total = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(total)
    return float(total.item()) / dist.get_world_size()
