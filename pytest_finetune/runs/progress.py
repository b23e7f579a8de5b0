"""How a run tells whoever watches it how far it got: one event type, one callback type.

The runners never print. They report milestones (an optimizer step done, an epoch evaluated)
to a ``RunProgress``, which turns them into ``ProgressEvent``s for the ``Progress``
callback its caller chose: the pytest plugin writes the start, epoch and end lines through
the terminal reporter, the CLI drives one tqdm bar per run and prints the same lines. One
vocabulary, so the two front ends cannot drift apart and a third (a notebook, a CI summary)
needs no runner change.

``quiet_libraries`` hides what transformers and datasets print on their own while a run
loads (the model's load report, weight-loading and tokenizing bars) unless the user asked
for verbose output, and puts their settings back afterwards: the plugin is a guest in
users' sessions and changes nothing beyond the run.

Importable without torch or transformers (the plugin formats lines before any run).
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping, Optional

from pytest_finetune.runs.config import RunConfig

START, STEP, EPOCH, END = "start", "step", "epoch", "end"


@dataclass(frozen=True)
class ProgressEvent:
    """Where a run stands. ``kind``: start, step (one optimizer step), epoch (evaluated), end."""

    kind: str
    runner: str
    profile: str
    seed: int
    step: int  # optimizer steps done
    total_steps: int
    epoch: int  # epochs done
    epochs: int
    elapsed_s: float  # since the run started training
    loss: Optional[float] = None  # the last optimizer step's training loss
    accuracy: Optional[float] = None  # the last evaluation's
    f1: Optional[float] = None  # (f1_macro for a task of more than two labels)
    metrics: Optional[Mapping[str, float]] = None  # the last evaluation's, all of them by name

    def line(self) -> str:
        """The one-line form both front ends print (pytest and the CLI)."""
        head = f"{self.runner}/{self.profile} seed {self.seed}"
        if self.kind == START:
            return f"{head}: started, {self.total_steps} steps in {self.epochs} epoch(s)"
        where = "done" if self.kind == END else f"epoch {self.epoch}/{self.epochs}"
        parts = [f"{head}: {where}", f"step {self.step}/{self.total_steps}", f"{self.elapsed_s:.1f}s"]
        if self.loss is not None:
            parts.append(f"loss {self.loss:.4f}")
        shown = self.metrics if self.metrics is not None else {"accuracy": self.accuracy, "f1": self.f1}
        if shown and all(value is not None for value in shown.values()):
            parts.append(" ".join(f"{_SHORT.get(name, name)} {value:.4f}" for name, value in shown.items()))
        return ", ".join(parts)


_SHORT = {"accuracy": "acc"}
Progress = Callable[[ProgressEvent], None]


class RunProgress:
    """What a runner reports to: counts steps and time, emits events to ``callback`` (if any)."""

    def __init__(self, config: RunConfig, total_steps: int, callback: Progress | None = None) -> None:
        self.config, self.total_steps, self.callback = config, total_steps, callback
        self.steps, self.epochs_done = 0, 0
        self.loss: float | None = None
        self.metrics: Mapping[str, float] = {}
        self._started = time.perf_counter()

    def _emit(self, kind: str) -> None:
        if not self.callback:  # None (or False, as older callers passed): nobody watches
            return
        self.callback(ProgressEvent(
            kind=kind, runner=self.config.runner, profile=self.config.profile, seed=self.config.seed,
            step=self.steps, total_steps=self.total_steps, epoch=self.epochs_done,
            epochs=self.config.epochs, elapsed_s=time.perf_counter() - self._started, loss=self.loss,
            accuracy=self.metrics.get("accuracy"), f1=self.metrics.get("f1", self.metrics.get("f1_macro")),
            metrics=dict(self.metrics) or None))

    def start(self) -> None:
        self._started = time.perf_counter()
        self._emit(START)

    def step(self, loss: float) -> None:
        """One optimizer step done, with its training loss."""
        self.steps += 1
        self.loss = float(loss)
        self._emit(STEP)

    def epoch(self, metrics: Mapping[str, float]) -> None:
        """One epoch done and evaluated (the task's metrics by name: ``accuracy``, ``f1``, ...)."""
        self.epochs_done += 1
        self.metrics = {name: value for name, value in metrics.items() if name != "eval_loss"}
        self._emit(EPOCH)

    def end(self) -> None:
        self._emit(END)


@contextmanager
def quiet_libraries(verbose: bool = False) -> Iterator[None]:
    """transformers' and datasets' own warnings and progress bars off for the block (unless
    ``verbose``), their previous settings restored after it, even on an error."""
    if verbose:
        yield
        return
    import datasets
    from datasets.utils import logging as datasets_logging
    from evaluate.utils import logging as evaluate_logging
    from transformers.utils import logging as transformers_logging

    loggers = (transformers_logging, datasets_logging, evaluate_logging)
    levels = [module.get_verbosity() for module in loggers]
    bars = (transformers_logging.is_progress_bar_enabled(), datasets.is_progress_bar_enabled())
    for module in loggers:
        module.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        for module, level in zip(loggers, levels):
            module.set_verbosity(level)
        if bars[0]:
            transformers_logging.enable_progress_bar()
        if bars[1]:
            datasets.enable_progress_bars()
