"""pytest wiring: options, markers, the gpu skip, Hypothesis profiles and reporting hooks.

Only hooks live here; fixtures come from one module per family, and the package's
``__init__`` re-exports both so that pytest finds them through the entry point.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pytest_finetune import __version__
from pytest_finetune.errors import ConfigError
from pytest_finetune.config.options import OPTIONS
from pytest_finetune.config.settings import FinetuneSettings
from pytest_finetune.report.session import SessionReport
from pytest_finetune.plugin import registrations
from pytest_finetune.plugin.progress import TerminalProgress
from pytest_finetune.plugin.stash import PROGRESS, SESSION_LOG, SETTINGS, settings_of
from pytest_finetune.checks.hypothesis_profiles import use_profile
from pytest_finetune.plugin.known_issues import MARKER as KNOWN_ISSUE_MARKER
from pytest_finetune.plugin.known_issues import MARKER_HELP as KNOWN_ISSUE_HELP, apply_known_issues

MARKERS = {
    "gpu": "needs a CUDA GPU; skipped with a reason on machines without one (run: pytest -m gpu)",
    "full": "trains on all of MRPC (minutes on CPU; select with -m full, deselect with -m 'not full')",
    "distributed": "launches runs on several processes (torchrun, accelerate launch): the distributed "
                   "invariant; select with -m distributed, deselect with -m 'not distributed'",
    KNOWN_ISSUE_MARKER: KNOWN_ISSUE_HELP,
}


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_finetune.plugin import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("finetune", "pytest-finetune (fine-tuning regression guards)")
    for option in OPTIONS:
        env = f" [env {option.env}]" if option.env else ""
        if option.flag:
            group.addoption(option.cli, action="store_true", default=None, dest=f"finetune_{option.dest}",
                            help=f"{option.help}{env}")
            parser.addini(option.ini, help=option.help, type="bool", default=False)
        elif option.const:
            # Plain flags, as syrupy's --snapshot-update: an optional value would swallow the
            # test path typed after the flag.
            group.addoption(option.cli, action="store_const", const=option.const, default=None,
                            dest=f"finetune_{option.dest}", help=f"{option.help}{env}")
            for value in dict.fromkeys(value for _, value in option.flags):
                names = [flag for flag, same in option.flags if same == value]
                same = f"the same as {option.cli}"
                group.addoption(*names, action="store_const", const=value, default=None, dest=f"finetune_{option.dest}",
                                help=same if value == option.const else f"{same}, value '{value}' (see above)")
            parser.addini(option.ini, help=option.help, default=None)
        else:
            group.addoption(option.cli, action="store", default=None, dest=f"finetune_{option.dest}",
                            metavar=option.dest.upper(), help=f"{option.help}{env} (default: {option.default})")
            parser.addini(option.ini, help=option.help, default=None)
    group.addoption("--finetune-hypothesis-profile", action="store", default=None, metavar="NAME",
                    help="load one of pytest-finetune's Hypothesis profiles: finetune-ci "
                         "(derandomized, 25 examples) or finetune-dev (200 examples); default: "
                         "none (your own Hypothesis settings stay as they are)")
    parser.addini("finetune_hypothesis_profile", help="Hypothesis profile to load "
                  "(finetune-ci or finetune-dev); default: none", default=None)
    registrations.add_ini(parser)


def project_root(config: pytest.Config) -> Path:
    """The ini file's folder, else where pytest was started: what relative settings
    (the baselines folder) resolve from, and what the report's paths are relative to.

    Not ``config.rootpath``: without an ini file pytest derives it from every path-like
    argument, option values given in the space form (``--finetune-data DIR``) included, and
    lands on their common ancestor, far from the project.
    """
    return config.inipath.parent if config.inipath else config.invocation_params.dir


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        signature = "(id)" if name == KNOWN_ISSUE_MARKER else ""  # shown by pytest --markers
        config.addinivalue_line("markers", f"{name}{signature}: {text}")
    cli = {o.dest: config.getoption(f"finetune_{o.dest}") for o in OPTIONS}
    ini = {o.dest: config.getini(o.ini) for o in OPTIONS}
    try:
        config.stash[SETTINGS] = FinetuneSettings.from_sources(cli, ini, project_root(config))
    except ConfigError as exc:
        raise pytest.UsageError(f"pytest-finetune: {exc}") from None
    registrations.configure_registry(config)
    profile = config.getoption("finetune_hypothesis_profile") or config.getini("finetune_hypothesis_profile")
    if profile:  # only when asked: users' own Hypothesis profiles are theirs
        try:
            use_profile(profile)
        except ConfigError as exc:
            raise pytest.UsageError(f"pytest-finetune: {exc}") from None
    config.stash[SESSION_LOG] = SessionReport()
    config.pluginmanager.register(config.stash[SESSION_LOG], "finetune-session-report")
    config.stash[PROGRESS] = TerminalProgress(config)
    config.pluginmanager.register(config.stash[PROGRESS], "finetune-progress")


def _whole_suite_ran(config: pytest.Config, exitstatus: int) -> bool:
    """Only a session that ran every test can call a stored baseline unused (syrupy, too,
    reports unused snapshots only for what ran in full): a ``-m``/``-k`` selection, explicit
    test paths, --lf or an early stop would flag baselines the deselected tests still use."""
    option = config.option
    if getattr(option, "markexpr", "") or getattr(option, "keyword", ""):
        return False
    if getattr(option, "lf", False) or getattr(option, "failedfirst", False):
        return False
    if config.args_source == pytest.Config.ArgsSource.ARGS:
        return False
    stopped_early = getattr(option, "maxfail", 0) and exitstatus == pytest.ExitCode.TESTS_FAILED
    return exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) and not stopped_early


def pytest_report_header(config: pytest.Config) -> list[str]:
    """The versions that matter after an upgrade, first thing in the log (read from package
    metadata: nothing is imported), and where data, model and baselines come from."""
    from pytest_finetune.runs.result import library_versions

    settings = settings_of(config)
    versions = library_versions()
    stack = ", ".join(f"{name} {versions[name]}" for name in
                      ("torch", "transformers", "tokenizers", "datasets", "accelerate", "evaluate"))
    device = settings.device
    if device == "auto" and "torch" in sys.modules:  # only if someone imported it already
        device = f"auto ({'cuda' if sys.modules['torch'].cuda.is_available() else 'cpu'})"
    model = settings.model or "embedded all-MiniLM-L6-v2"
    return [f"pytest-finetune {__version__}: {stack}",
            f"pytest-finetune: device {device}, model {model}, data {settings.data}, "
            f"baselines {settings.baselines}"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    apply_known_issues(items)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Every conftest.py is loaded now: their runners and tasks are checked before a test runs."""
    registrations.check_registrations(session.config)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("gpu") is not None:
        import torch

        if not torch.cuda.is_available():
            pytest.skip("gpu test: no CUDA device on this machine (run with pytest -m gpu on a GPU runner)")


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    if getattr(config, "workerinput", None) is not None:
        return  # the xdist controller reports for everyone
    report: SessionReport = config.stash[SESSION_LOG]
    settings = settings_of(config)
    table, updates, known = report.table_lines(), report.update_lines(), report.known_issue_lines()
    metric = report.metric_lines()
    if table or updates or known or metric:
        terminalreporter.write_sep("=", "pytest-finetune")
    for line in known + updates + metric + table:
        terminalreporter.write_line(line)
    unused = report.unused_files(settings.baselines) if _whole_suite_ran(config, exitstatus) else []
    if unused:
        terminalreporter.write_line(f"baselines no test of this session used ({len(unused)}): "
                                    + ", ".join(unused) + " (delete them if no test uses them anymore)")
    if settings.report:
        try:
            written = report.write(Path(settings.report), settings.tolerance_k, project_root(config),
                                   warn=lambda text: terminalreporter.write_line(f"pytest-finetune: {text}",
                                                                                 yellow=True))
        except (OSError, ValueError) as exc:  # checked at configure time; the disk may still fail
            terminalreporter.write_line(f"pytest-finetune: cannot write the report {settings.report}: {exc}",
                                        red=True)
            return
        for path in written:
            terminalreporter.write_line(f"wrote {path}")
