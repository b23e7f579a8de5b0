"""How ``pytest-finetune check`` builds its pytest session and reads its end (no pytest started).

The profile picks the markers, the user's baselines folder is made absolute against the
folder the command runs in (relative to the packaged ini it would point into
site-packages), and pytest's exit status becomes the CLI's documented code.
"""
import argparse

import pytest

from pytest_finetune.baselines.outcome import Outcome
from pytest_finetune.cli import exit_codes
from pytest_finetune.cli.check import GUARD_DIR, GUARD_INI, _Watch, exit_code_of, pytest_arguments
from pytest_finetune.errors import ConfigError


@pytest.mark.parametrize("profile, markers", [("tiny", "not full and not gpu"), ("full", "not gpu"), ("gpu", "gpu")])
def test_profile_selects_markers_and_the_session_is_isolated(tmp_path, monkeypatch, profile, markers):
    monkeypatch.delenv("PYTEST_FINETUNE_BASELINES", raising=False)
    args = pytest_arguments(profile, "out/r.json", {"data": "/mrpc", "trust_remote_code": True, "model": None},
                            ["-x", "-k", "drift"], cwd=tmp_path)
    assert args[0] == str(GUARD_DIR) and args[args.index("-c") + 1] == str(GUARD_INI)
    assert args[args.index("--rootdir") + 1] == str(GUARD_DIR.parent.parent)
    assert {"no:cacheprovider", "--import-mode=importlib"} <= set(args)
    assert args[args.index("-m") + 1] == markers
    assert args[args.index("--finetune-baselines") + 1] == str(tmp_path / "baselines")
    assert args[args.index("--finetune-report") + 1] == str(tmp_path / "out" / "r.json")
    assert args[args.index("--finetune-data") + 1] == "/mrpc"
    assert "--finetune-trust-remote-code" in args and "--finetune-model" not in args
    assert args[-3:] == ["-x", "-k", "drift"]  # the user's pytest arguments last: they win


def test_baselines_from_the_environment_are_resolved_against_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTEST_FINETUNE_BASELINES", "mine")
    args = pytest_arguments(cwd=tmp_path)
    assert args[args.index("--finetune-baselines") + 1] == str(tmp_path / "mine")


def test_unknown_profile_or_option_is_bad_input():
    with pytest.raises(ConfigError, match="--profile: 'huge' is not one of tiny, full, gpu"):
        pytest_arguments("huge")
    with pytest.raises(ConfigError, match="unknown option"):
        pytest_arguments("tiny", options={"seeds": "3"})


def _watch(collection_errors=0, keyboard_interrupt=False):
    watch = _Watch()
    watch.collection_errors, watch.keyboard_interrupt = collection_errors, keyboard_interrupt
    return watch


@pytest.mark.parametrize("status, watch, code", [
    (pytest.ExitCode.OK, _watch(), exit_codes.OK),
    (pytest.ExitCode.TESTS_FAILED, _watch(), exit_codes.REGRESSION),
    (pytest.ExitCode.INTERRUPTED, _watch(collection_errors=1), exit_codes.REGRESSION),  # a guard no longer imports
    (pytest.ExitCode.INTERRUPTED, _watch(keyboard_interrupt=True), exit_codes.INTERRUPTED),
    (pytest.ExitCode.USAGE_ERROR, _watch(), exit_codes.BAD_INPUT),
    (pytest.ExitCode.NO_TESTS_COLLECTED, _watch(), exit_codes.BAD_INPUT),
    (pytest.ExitCode.INTERNAL_ERROR, _watch(), exit_codes.INTERNAL_ERROR),
])
def test_pytest_exit_status_maps_to_the_documented_codes(status, watch, code):
    assert exit_code_of(status, watch) == code


@pytest.mark.parametrize("outcome, words", [
    (Outcome.CHANGED, "CHANGED (a same-seed run or a drift fingerprint moved beyond the recorded noise"),
    (Outcome.REGRESSION, "FAILED (regression), exit 1"),
    (None, "FAILED, exit 1"),
])
def test_checks_last_line_says_whether_a_failure_is_a_change_or_a_regression(monkeypatch, capsys, outcome, words):
    from pytest_finetune.cli import check as check_module

    monkeypatch.setattr(check_module, "check", lambda *args, **kwargs: check_module.SuiteOutcome(1, None, outcome))
    args = argparse.Namespace(profile="tiny", report=None, pytest_args=(),
                              **{dest: None for dest in check_module.SESSION_OPTIONS})
    assert check_module.command_check(args) == 1
    assert words in capsys.readouterr().out

