"""The one registry of runners and tasks, and the ``Runner`` protocol every runner follows.

A **runner** trains a prepared run (``runs.prepare.Prepared``) and hands back a
``RunnerOutput``. The contract the harness relies on, whoever wrote the runner:

- ``losses``: one training loss per optimizer step, at full precision (the sum of the
  step's micro-batch losses as the loss is scaled for accumulation); ``learning_rates``:
  the rate each step used; ``history``: one entry per evaluated epoch with ``epoch``, the
  task's ``metric_names`` and ``eval_loss``; ``predictions``: the last evaluation's
  predicted label per eval example; ``model``: the trained model.
- ``progress.step(loss)`` once per optimizer step and ``progress.epoch(metrics)`` once per
  evaluation (what the pytest and CLI lines are made of).
- the first non-finite loss stops the run with a ``NonFiniteLossError`` naming the step.
- the test hooks of ``runs.perturb`` reach the optimizer before its first step.
- ``name`` is the scenario's ``runner``; ``source`` a digest of the user's code (None for
  the built-ins), recorded so that an edited runner is not compared with an old record.

The built-ins are ``trainer`` (stock ``transformers.Trainer``) and ``loop`` (the course's
accelerate loop). A user's runner is a ``transformers.Trainer`` subclass (the harness mixes
its recording in: ``runs.trainer``), a factory returning a Trainer (``trainer_factory``), or
a training function ``fn(run)`` reporting through a ``LoopRun`` (``runs.user_loop``).
Wherever a runner is named (``finetune_run(runner=...)``, ini ``finetune_runners``, the
CLI's ``--runner``) it may be a registered name, a dotted path ``module:attr`` (imported
and checked at once, as syrupy does with its extensions) or, in Python, the object itself.
Tasks are named the same way (``tasks.base.Task``; ``mrpc`` is built in).
"""
from __future__ import annotations

import hashlib
import importlib
import inspect
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol, runtime_checkable

from pytest_finetune.errors import ConfigError
from pytest_finetune.tasks.base import Task, check_name
from pytest_finetune.tasks.builtin import MRPC
from pytest_finetune.tasks.causal_lm import MRPC_LM

# Modules whose classes are the libraries', not the user's: left out of a runner's digest.
_LIBRARY_MODULES = ("transformers", "torch", "accelerate", "pytest_finetune", "builtins", "trl", "peft")
_FACTORY_MARK = "__pytest_finetune_trainer_factory__"
BUILTIN_RUNNERS = ("trainer", "loop")
# The tasks every process can train by name alone (a launched worker, an upgrade's seed runs):
# a user's task exists only where their conftest registered it.
BUILTIN_TASKS = {task.name: task for task in (MRPC, MRPC_LM)}


@runtime_checkable
class Runner(Protocol):
    name: str
    kind: str  # "trainer" or "loop": which recording the runner carries
    source: str | None

    def train(self, prepared: Any, progress: Any) -> Any:
        """Train ``prepared`` and return a ``RunnerOutput`` (see the module's contract)."""


def _has_members(obj: Any, protocol: type) -> bool:
    """Whether ``obj`` has every member ``protocol`` names, without reading any of them:
    ``isinstance`` on a runtime-checkable protocol evaluates properties (a task's
    ``num_labels`` reads its files), and a registration must not read data."""
    members = set(getattr(protocol, "__annotations__", {})) | {
        name for name, value in vars(protocol).items() if callable(value) and not name.startswith("_")}
    return not isinstance(obj, type) and all(
        hasattr(type(obj), name) or name in getattr(obj, "__dict__", {}) for name in members)


def trainer_factory(function: Callable[..., Any]) -> Callable[..., Any]:
    """Mark ``function`` as a factory that returns a ``transformers.Trainer``.

    It is called with the keywords a Trainer takes (``model``, ``args``, ``train_dataset``,
    ``eval_dataset``, ``data_collator``, ``processing_class``, ``compute_metrics``,
    ``callbacks``), for a Trainer subclass whose ``__init__`` needs more than those.
    """
    setattr(function, _FACTORY_MARK, True)
    return function


def _user_classes(cls: type) -> list[type]:
    return [c for c in cls.__mro__ if c.__module__.split(".")[0] not in _LIBRARY_MODULES]


def _code_of(obj: Any) -> bytes:
    try:
        return inspect.getsource(obj).encode()
    except (OSError, TypeError):  # defined where no source file is (a REPL, exec)
        code = getattr(obj, "__code__", None)
        if code is not None:
            return code.co_code + repr(code.co_consts).encode()
        return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', obj)}".encode()


def source_digest(obj: Any) -> str:
    """8 hex digits of the code that makes ``obj`` train: a function's source, or a class's
    and that of its own base classes (the libraries' are left out: their versions are
    recorded). What the code calls elsewhere is not included."""
    digest = hashlib.sha256(b"runner-source-v1")
    parts = _user_classes(obj) if isinstance(obj, type) else [obj]
    for part in parts:
        digest.update(_code_of(part))
    return digest.hexdigest()[:8]


def _described(obj: Any) -> str:
    name = getattr(obj, "__qualname__", None) or type(obj).__name__
    module = getattr(obj, "__module__", None)
    return f"{module}.{name}" if module else str(name)


def _one_argument(function: Callable[..., Any]) -> bool:
    """Whether ``function(run)`` is a valid call: one positional parameter, or *args."""
    try:
        inspect.signature(function).bind(object())
    except TypeError:
        return False
    except ValueError:  # no signature (some builtins): let the call decide
        return True
    return True


def _is_trainer_class(cls: type) -> bool:
    """Whether ``cls`` subclasses ``transformers.Trainer``, without importing transformers
    for a class that cannot be one (its module would have imported it already)."""
    if "transformers" not in sys.modules:
        return False
    from transformers import Trainer

    return issubclass(cls, Trainer)


def as_runner(obj: Any, name: str | None = None) -> Runner:
    """``obj`` as a ``Runner``, or a ConfigError of one line saying what was expected.

    What the object is gets checked first, then its name (a ``lambda`` has none fit for a
    file name: register it under one). Cheap for a training function (nothing heavy is
    imported until it trains), so ini registrations are checked when the session starts.
    """
    if _has_members(obj, Runner):
        return obj
    label = name or getattr(obj, "__name__", None)
    where = f"runner {label}" if label else "runner"
    if isinstance(obj, type):
        if not _is_trainer_class(obj):
            raise ConfigError(f"{where}: {_described(obj)} is a class but not a transformers.Trainer "
                              "subclass; expected a Trainer subclass, a trainer factory or a training "
                              "function taking one argument (the run)")
        from pytest_finetune.runs.trainer import TrainerRunner, missing_keywords

        missing = missing_keywords(obj)
        if missing:
            raise ConfigError(f"{where}: {_described(obj)}.__init__ needs {', '.join(missing)}, which the "
                              "harness does not pass; register a @trainer_factory that builds it instead")
        return TrainerRunner(_runner_name(label), obj, source=source_digest(obj))
    if not callable(obj):
        raise ConfigError(f"{where}: {obj!r} is not a transformers.Trainer subclass or a training function "
                          "(callable taking one argument, the run)")
    if getattr(obj, _FACTORY_MARK, False):
        from pytest_finetune.runs.trainer import TrainerRunner

        return TrainerRunner(_runner_name(label), factory=obj, source=source_digest(obj))
    if not _one_argument(obj):
        raise ConfigError(f"{where}: {_described(obj)} cannot be called with one argument (the run); "
                          "expected a training function def train(run): ... or a Trainer subclass")
    from pytest_finetune.runs.user_loop import FunctionRunner

    return FunctionRunner(_runner_name(label), obj, source=source_digest(obj))


def _runner_name(name: Any) -> str:
    try:
        return check_name(name, "runner")
    except ConfigError as exc:
        raise ConfigError(f"{exc}; register it under a name (the pytest_finetune_runners hook, ini "
                          "finetune_runners)") from None


def as_task(obj: Any, name: str | None = None) -> Task:
    if _has_members(obj, Task):
        check_name(obj.name, "task")
        if name is not None and name != obj.name:
            raise ConfigError(f"task {name}: the task object is named {obj.name!r}; register it under "
                              "its own name")
        return obj
    where = f"task {name}" if name else "task"
    raise ConfigError(f"{where}: {obj!r} is not a task; expected a TextClassification(...) or another "
                      "object with the tasks.base.Task attributes")


def load_object(spec: str, what: str = "runner") -> Any:
    """The object a dotted path ``module:attr`` (or ``module.attr``) names, imported now.

    The current folder is importable, as for ``python -m``: a console script does not put
    it on ``sys.path``, and a project's own module is what is usually named.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep:
        module_name, _, attr = spec.rpartition(".")
    if not module_name or not attr:
        raise ConfigError(f"{what} {spec!r}: expected a registered name or a dotted path module:attr")
    if str(Path.cwd()) not in sys.path and "" not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{what} {spec}: cannot import module {module_name} ({exc})") from None
    except Exception as exc:  # the user's module raised while importing
        raise ConfigError(f"{what} {spec}: importing {module_name} failed ({type(exc).__name__}: {exc})") from None
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ConfigError(f"{what} {spec}: module {module_name} has no attribute {attr}")
        target = getattr(target, part)
    return target


def _is_spec(text: str) -> bool:
    return ":" in text


class Registry:
    """The session's runners and tasks by name: the built-ins plus what the user registered.

    One per pytest session (``plugin``) or CLI command; ``finetune_run(runner=MyTrainer)``
    registers the object under its own name on first use. A name stands for one object: a
    second, different object under a name already taken is an error, never a silent swap.
    """

    def __init__(self) -> None:
        # The built-in runners load their libraries (torch, transformers, accelerate) on
        # first use: a registry is made in every pytest session, most of which train nothing.
        self.runners: dict[str, Runner | None] = {name: None for name in BUILTIN_RUNNERS}
        self.tasks: dict[str, Task] = dict(BUILTIN_TASKS)
        self._origins: dict[tuple[str, str], Any] = {}

    def _named_runner(self, name: str) -> Runner:
        runner = self.runners[name]
        if runner is None:
            if name == "trainer":
                from pytest_finetune.runs.trainer import STOCK as runner
            else:
                from pytest_finetune.runs.loop import CourseLoop

                runner = CourseLoop()
            self.runners[name] = runner
        return runner

    def add_runner(self, name: str, obj: Any) -> Runner:
        origin = obj
        if self._origins.get(("runner", name)) is origin:
            return self.runners[name]  # type: ignore[return-value]
        runner = as_runner(obj, name)  # what it is first, then whether the name is fit
        if ("runner", name) in self._origins:
            raise ConfigError(f"runner {name}: the name is registered twice, for "
                              f"{_described(self._origins[('runner', name)])} and {_described(origin)}")
        if name in self.runners and ("runner", name) not in self._origins:
            raise ConfigError(f"runner {name}: the name of a built-in runner; choose another name")
        self.runners[name], self._origins[("runner", name)] = runner, origin
        return runner

    def add_task(self, name: str, obj: Any) -> Task:
        check_name(name, "task")
        if self._origins.get(("task", name)) is obj:
            return self.tasks[name]
        if ("task", name) in self._origins:
            raise ConfigError(f"task {name}: the name is registered twice, for {self._origins[('task', name)]!r} "
                              f"and {obj!r}")
        if name in self.tasks and ("task", name) not in self._origins:
            raise ConfigError(f"task {name}: the name of a built-in task; choose another name")
        task = as_task(obj, name)
        self.tasks[name], self._origins[("task", name)] = task, obj
        return task

    def add_specs(self, lines: Iterable[str], what: str) -> None:
        """ini lines ``name = module:attr`` (or a bare ``module:attr``: the attribute's name)."""
        for line in lines:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, sep, spec = (part.strip() for part in line.partition("="))
            spec, name = (spec, name) if sep else (name, "")
            obj = load_object(spec, what)
            name = name or (getattr(obj, "name", None) if what == "task" else None) or spec.rpartition(":")[2]
            (self.add_task if what == "task" else self.add_runner)(name, obj)

    def runner(self, spec: Any) -> Runner:
        """A runner by name, by dotted path, or as the object (registered on first use)."""
        if isinstance(spec, str):
            if spec in self.runners:
                return self._named_runner(spec)
            if _is_spec(spec):
                obj = load_object(spec, "runner")
                return self.add_runner(spec.rpartition(":")[2].rpartition(".")[2], obj)
            raise ConfigError(f"runner: {spec!r} is not one of {', '.join(self.runners)} and not a dotted "
                              "path module:attr; register your own runner (ini finetune_runners, the "
                              "pytest_finetune_runners hook) or pass it itself")
        if _has_members(spec, Runner):
            return self.add_runner(spec.name, spec) if self.runners.get(spec.name) is not spec else spec
        name = getattr(spec, "__name__", None)
        if name is None:
            as_runner(spec)  # raises the one-line error for what it is
        return self.add_runner(str(name), spec)

    def task(self, spec: Any) -> Task:
        """A task by name, by dotted path, or as the object (registered on first use)."""
        if isinstance(spec, str):
            if spec in self.tasks:
                return self.tasks[spec]
            if _is_spec(spec):
                obj = load_object(spec, "task")
                return self.add_task(getattr(obj, "name", spec.rpartition(":")[2]), obj)
            raise ConfigError(f"task: {spec!r} is not one of {', '.join(self.tasks)} and not a dotted path "
                              "module:attr; register your own task (ini finetune_tasks, the "
                              "pytest_finetune_tasks hook) or pass it itself")
        task = as_task(spec)
        return task if self.tasks.get(task.name) is task else self.add_task(task.name, task)


def bind(registry: Registry, runner: Any, task: Any, data: str) -> dict[str, Any]:
    """The ``RunConfig`` fields that name ``runner`` and ``task`` (resolved in ``registry``):
    their names, sources and the data the task reads; ``default_model`` and
    ``task_settings``: the task's own model and profile settings where it has them (the
    causal-LM task's tiny decoder and learning rates), for ``runs.config.session_run_config``."""
    found_runner, found_task = registry.runner(runner), registry.task(task)
    return {"runner": found_runner.name, "runner_source": found_runner.source, "task": found_task.name,
            "task_source": found_task.source, "data": found_task.data_source(data),
            "default_model": getattr(found_task, "default_model", None),
            "task_settings": getattr(found_task, "profile_settings", None)}
