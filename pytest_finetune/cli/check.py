"""``pytest-finetune check``: run the guard suite that ships in the package, map its exit code.

``check()`` is the importable form (``pytest-finetune upgrade`` runs the command in each
environment; a script can call the function): it returns the exit code and the path of the
``--finetune-report`` JSON.

The suite runs inside whatever project the user is in, from site-packages. So that the
project cannot change what is checked and the check cannot change the project:

- ``-c guard.ini``: the project's pytest.ini / pyproject (addopts, testpaths, markers) is
  not read, and conftest.py files are looked for only inside the guard package
  (pytest's confcutdir is the ini's folder); the project's conftest.py is not loaded.
- ``--rootdir`` is the folder holding the package, so test ids read
  ``pytest_finetune/guard/test_x.py::name`` in every environment (and in this repo).
- ``-p no:cacheprovider``: nothing is written to ``.pytest_cache`` (it would land in
  site-packages); ``--import-mode=importlib``: nothing is put on ``sys.path``.
- Hypothesis keeps its files (``.hypothesis/``, which it would create in the current
  folder) in pytest-finetune's cache folder for the duration of the run, and no bytecode
  (pytest's rewritten test modules included) is written beside the installed package.
- The baselines folder is always passed as an absolute path (the user's, default
  ``./baselines``), never resolved against the ini's folder inside the package; stored
  files are looked up there first and in the packaged defaults second.

Exit codes (``cli.exit_codes``): 0 every selected check passed, 1 a check failed (a
regression, or a guard module that no longer imports), 2 bad input or a selection of no
checks, 3 an internal error of pytest or the plugin, 130 interrupted.
"""
from __future__ import annotations

import argparse
import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import pytest

import pytest_finetune.guard
from pytest_finetune.baselines.outcome import Outcome
from pytest_finetune.cli import exit_codes
from pytest_finetune.cli.preflight import check_inputs
from pytest_finetune.config.options import OPTIONS_BY_DEST, SESSION_OPTIONS, resolve
from pytest_finetune.errors import ConfigError
from pytest_finetune.plugin.stash import SESSION_LOG
from pytest_finetune.runs.config import PROFILES

GUARD_DIR = Path(pytest_finetune.guard.__file__).resolve().parent
GUARD_INI = GUARD_DIR / "guard.ini"
# Which guard checks each profile selects (pytest -m expressions).
PROFILE_MARKERS = {"tiny": "not full and not gpu", "full": "not gpu", "gpu": "gpu"}
VERDICTS = {exit_codes.OK: "ok", exit_codes.REGRESSION: "FAILED", exit_codes.BAD_INPUT: "bad input",
            exit_codes.INTERNAL_ERROR: "internal error", exit_codes.INTERRUPTED: "interrupted"}


@dataclass(frozen=True)
class SuiteOutcome:
    """What a check run left: the CLI exit code and the JSON report (None when not written)."""

    exit_code: int
    report: Path | None
    outcome: Outcome | None = None  # safe, changed or regression (None: the session did not finish)


class _Watch:
    """A pytest plugin object: tells collection errors apart from a Ctrl-C (both exit 2)."""

    def __init__(self) -> None:
        self.collection_errors = 0
        self.keyboard_interrupt = False
        self.outcome: Outcome | None = None

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """The session's outcome (safe, changed, regression), as its report would say."""
        report = config.stash.get(SESSION_LOG, None)
        self.outcome = report.outcome() if report is not None else None

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_errors += 1

    def pytest_keyboard_interrupt(self) -> None:
        self.keyboard_interrupt = True


def pytest_arguments(profile: str = "tiny", report: str | os.PathLike | None = None,
                     options: Mapping[str, str | None] | None = None,
                     extra: Sequence[str] = (), cwd: Path | None = None) -> list[str]:
    """The pytest command line of a check run (without the ``pytest`` itself).

    ``options`` holds the forwarded settings by name (``data``, ``model``, ...); None or a
    missing name means the environment variable or default applies, as in the plugin.
    """
    if profile not in PROFILE_MARKERS:
        raise ConfigError(f"--profile: {profile!r} is not one of {', '.join(PROFILES)}")
    options = dict(options or {})
    cwd = Path.cwd() if cwd is None else cwd
    unknown = sorted(set(options) - set(SESSION_OPTIONS))
    if unknown:
        raise ConfigError(f"check: unknown option(s) {', '.join(unknown)}; known: {', '.join(SESSION_OPTIONS)}")
    # The user's baselines folder, made absolute here: relative to the ini it would be a
    # folder inside site-packages.
    baselines = resolve(OPTIONS_BY_DEST["baselines"], options.get("baselines"), None)
    options["baselines"] = str((cwd / Path(baselines).expanduser()).resolve())
    args = [str(GUARD_DIR), "-c", str(GUARD_INI), "--rootdir", str(GUARD_DIR.parent.parent),
            "-p", "no:cacheprovider", "--import-mode=importlib", "-m", PROFILE_MARKERS[profile],
            # check() runs inside the pytest_finetune package: pytest cannot rewrite the
            # asserts of modules imported before it starts and would warn about each one.
            "-W", "ignore::pytest.PytestAssertRewriteWarning"]
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        args += ["-p", "pytest_finetune.plugin"]
    # The guard suite checks MRPC, whatever task a PYTEST_FINETUNE_TASK names for the user's tests.
    args += ["--finetune-task", "mrpc"]
    for dest in SESSION_OPTIONS:
        option, value = OPTIONS_BY_DEST[dest], options.get(dest)
        if option.flag:
            args += [option.cli] if value else []
        elif value not in (None, ""):
            args += [option.cli, str(value)]
    if report is not None:
        args += ["--finetune-report", str((cwd / Path(report)).resolve())]
    return args + list(extra)


def own_tests_arguments(tests: Sequence[str], report: str | os.PathLike | None = None,
                        options: Mapping[str, str | None] | None = None, extra: Sequence[str] = (),
                        cwd: Path | None = None) -> list[str]:
    """The pytest command line of the user's own test selection: run from the current folder,
    so their ini, conftest.py and baselines folder apply; only the settings given on
    ``check``'s command line are passed on (the rest come from their ini or environment)."""
    cwd = Path.cwd() if cwd is None else cwd
    for test in tests:
        path = Path(str(test).split("::", 1)[0]).expanduser()
        if not (cwd / path).exists():
            raise ConfigError(f"--tests: {test} does not exist (from {cwd}); expected your test files or "
                              "folders (pytest's paths or node ids)")
    args = [str(test) for test in tests]
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        args += ["-p", "pytest_finetune.plugin"]
    # Values joined to their option (--x=value): pytest takes a separate path-like argument
    # for a test path when it picks the rootdir, and node ids would then start at "/".
    for dest in SESSION_OPTIONS:
        option, value = OPTIONS_BY_DEST[dest], (options or {}).get(dest)
        if option.flag:
            args += [option.cli] if value else []
        elif value not in (None, ""):
            path = Path(str(value)).expanduser()
            args.append(f"{option.cli}={(cwd / path).resolve() if dest == 'baselines' else value}")
    if report is not None:
        args.append(f"--finetune-report={(cwd / Path(report)).resolve()}")
    return args + list(extra)


def _preflight(profile: str, options: Mapping[str, str | None]) -> None:
    """Stop before pytest starts when no check could measure anything: one line (exit 2)
    instead of every check failing alike (a GPU profile without a GPU, a model that does
    not load, data that does not read, no data at all)."""
    if profile == "gpu":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("--profile gpu: this machine has no CUDA device (torch.cuda.is_available() "
                             "is False); run it on a GPU runner")
    check_inputs({**options, "profile": profile})


def _cache_dir(cache_dir: str | None) -> Path:
    from pytest_finetune.mrpc.data import default_cache_dir

    chosen = resolve(OPTIONS_BY_DEST["cache_dir"], cache_dir, None)
    return Path(chosen).expanduser() if chosen else default_cache_dir()


@contextlib.contextmanager
def _writes_kept_out_of_the_package(cache: Path) -> Iterator[None]:
    """While the suite runs: Hypothesis' storage in ``cache``, no ``__pycache__`` writes
    (pytest caches rewritten test modules beside them, i.e. in site-packages); then back."""
    import sys

    from hypothesis import configuration

    # None (unset: resolved on first use) unless someone set it; restored as it was.
    previous = getattr(configuration, "__hypothesis_home_directory", None)
    no_bytecode = sys.dont_write_bytecode
    configuration.set_hypothesis_home_dir(cache / "hypothesis")
    sys.dont_write_bytecode = True
    try:
        yield
    finally:
        configuration.set_hypothesis_home_dir(previous)
        sys.dont_write_bytecode = no_bytecode


def exit_code_of(status: int, watch: _Watch) -> int:
    """pytest's exit status as the CLI's documented code."""
    if status == pytest.ExitCode.OK:
        return exit_codes.OK
    if status == pytest.ExitCode.TESTS_FAILED:
        return exit_codes.REGRESSION
    if status == pytest.ExitCode.INTERRUPTED:
        interrupted = watch.keyboard_interrupt and not watch.collection_errors
        return exit_codes.INTERRUPTED if interrupted else exit_codes.REGRESSION
    if status in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.NO_TESTS_COLLECTED):
        return exit_codes.BAD_INPUT
    return exit_codes.INTERNAL_ERROR


def check(profile: str = "tiny", report: str | os.PathLike | None = None,
          options: Mapping[str, str | None] | None = None, extra: Sequence[str] = (),
          tests: Sequence[str] = (), guard: bool = True) -> SuiteOutcome:
    """Run the guard suite in this process (and, with ``tests``, the user's own test
    selection after it; ``guard=False``: only theirs); what ``pytest-finetune check`` does.

    With both, each session writes its own report beside ``report`` (``<stem>-guard.json``,
    ``<stem>-tests.json``, pictures included) and ``report`` holds both
    (``report.session.merge_reports``); the exit code and outcome are the worse of the two.
    Raises ConfigError (exit code 2) when the input cannot work, before pytest starts.
    """
    if not guard and not tests:
        raise ConfigError("--no-guard: nothing left to run; name your own tests with --tests PATH")
    target = None if report is None else Path(report)
    parts = {}
    if guard:
        parts["guard"] = pytest_arguments(profile, _part(target, "guard", bool(tests)), options, extra)
        _preflight(profile, options or {})
    if tests:
        parts["tests"] = own_tests_arguments(tests, _part(target, "tests", guard), options, extra)
    results = []
    for name, args in parts.items():
        watch = _Watch()
        if name == "guard":
            with _writes_kept_out_of_the_package(_cache_dir((options or {}).get("cache_dir"))):
                status = pytest.main(args, plugins=[watch])
        else:
            status = pytest.main(args, plugins=[watch])
        written = _report_argument(args) if target is not None else None
        results.append((exit_code_of(status, watch), watch.outcome, written if written and written.is_file() else None))
    code = max((r[0] for r in results), key=_SEVERITY.index)
    outcomes = [r[1] for r in results]
    outcome = None if None in outcomes else max(outcomes, key=lambda o: _OUTCOME_ORDER.index(o))
    written_reports = [r[2] for r in results if r[2] is not None]
    if len(parts) == 1 or target is None:
        return SuiteOutcome(code, written_reports[0] if written_reports else None, outcome)
    from pytest_finetune._io import read_json, write_json
    from pytest_finetune.report.session import merge_reports

    merged = merge_reports([read_json(path, ConfigError, "a --finetune-report") for path in written_reports])
    final = (Path.cwd() / target).resolve()
    return SuiteOutcome(code, write_json(final, merged) if written_reports else None, outcome)


def _report_argument(args: Sequence[str]) -> Path | None:
    """The report path a session's command line names (``--finetune-report X`` or ``=X``)."""
    for index, arg in enumerate(args):
        if arg == "--finetune-report" and index + 1 < len(args):
            return Path(args[index + 1])
        if arg.startswith("--finetune-report="):
            return Path(arg.split("=", 1)[1])
    return None


# Exit codes, the mildest first: the combined code of two sessions is the later of the two.
_SEVERITY = [exit_codes.OK, exit_codes.REGRESSION, exit_codes.BAD_INPUT, exit_codes.INTERNAL_ERROR,
             exit_codes.INTERRUPTED]
_OUTCOME_ORDER = [Outcome.SAFE, Outcome.CHANGED, Outcome.FAILING, Outcome.REGRESSION]


def _part(report: Path | None, name: str, both: bool) -> Path | None:
    """Where one session writes its report: ``report`` itself when it is the only session."""
    if report is None or not both:
        return report
    return report.with_name(f"{report.stem}-{name}{report.suffix or '.json'}")


def add_check_arguments(check_parser: argparse.ArgumentParser) -> None:
    """The options of ``pytest-finetune check`` besides the session settings."""
    check_parser.add_argument("--profile", choices=PROFILES, default="tiny",
                              help="tiny: the fast checks (default); full: also the full MRPC runs; "
                                   "gpu: the gpu runs (needs CUDA)")
    check_parser.add_argument("--report", "--finetune-report", dest="report", default=None, metavar="FILE",
                              help="write results, verdicts and each check's outcome as JSON (the "
                                   "plugin's --finetune-report format)")
    add_own_tests_arguments(check_parser, "after the guard suite; one report holds both")


def add_own_tests_arguments(parser: argparse.ArgumentParser, when: str) -> None:
    """``--tests`` and ``--no-guard``, for ``check`` and (on both sides) ``upgrade``."""
    parser.add_argument("--tests", nargs="+", default=(), metavar="PATH",
                        help="also run your own tests (files, folders or node ids, from the current folder, "
                             f"with your ini, conftest.py and baselines) {when}")
    parser.add_argument("--no-guard", dest="guard", action="store_false",
                        help="with --tests: run only your own tests, not the packaged guard suite")


def command_check(args: argparse.Namespace) -> int:
    """The subcommand: run the suite, then one line with the verdict and the report's path.

    ``args.pytest_args``: what followed ``--`` on the command line, passed to pytest as is.
    """
    options = {dest: getattr(args, dest) for dest in SESSION_OPTIONS}
    outcome = check(args.profile, args.report, options, getattr(args, "pytest_args", ()),
                    tests=getattr(args, "tests", ()) or (), guard=getattr(args, "guard", True))
    report = f"; report {outcome.report}" if outcome.report else ""
    verdict = VERDICTS[outcome.exit_code]
    if outcome.exit_code == exit_codes.REGRESSION and outcome.outcome is Outcome.CHANGED:
        verdict = ("CHANGED (a same-seed run or a drift fingerprint moved beyond the recorded noise; every "
                   "correctness check and seed band holds: look at the change, and re-record if it is expected)")
    elif outcome.exit_code == exit_codes.REGRESSION and outcome.outcome is Outcome.REGRESSION:
        verdict = "FAILED (regression)"
    what = ("your tests" if not getattr(args, "guard", True) else
            "guard suite and your tests" if getattr(args, "tests", ()) else f"profile {args.profile}")
    print(f"pytest-finetune check ({what}): {verdict}, exit {outcome.exit_code}{report}")
    return outcome.exit_code
