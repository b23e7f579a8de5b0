"""The plugin as users type it and misuse it: flags before test paths, wrong keyword
arguments, names too long for the file system. Each is a usage error or one ``Failed:`` line."""
import pytest

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.slow  # every test starts an inner pytest session

SHOW_MODE = """
def test_mode(finetune_settings):
    print("MODE=%r" % finetune_settings.update_baselines)
"""


@pytest.mark.parametrize("flag, mode", [("--finetune-update-baselines", "failing"),
                                        ("--finetune-update-all-baselines", "all"),
                                        ("--finetune-update-baselines=all", "all"),
                                        ("--finetune-update-baselines=failing", "failing")])
def test_update_flags_may_come_before_the_test_path(pytester, flag, mode):
    """The order users type: an optional value used to swallow the path after the flag."""
    pytester.makepyfile(test_x=SHOW_MODE)
    result = pytester.runpytest("-s", flag, "test_x.py")
    result.assert_outcomes(passed=1)
    assert f"MODE={mode!r}" in result.stdout.str()


def test_an_unknown_update_value_is_a_usage_error(pytester):
    pytester.makepyfile(test_x=SHOW_MODE)
    result = pytester.runpytest("--finetune-update-baselines=some", "test_x.py")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*argument --finetune-update-baselines: ignored explicit argument 'some'"])


@pytest.mark.parametrize("call, line", [
    ("finetune_run(runner='loop', learning_rate=1e-4)",
     "unknown run setting(s) learning_rate (did you mean lr?); expected some of: *"),
    ("finetune_run(runner='loop', lr='1e-4')", "lr: expected a number, got str '1e-4'"),
    ("finetune_run(runner='loop', config_overrides='hidden_dropout_prob')",
     "config_overrides: expected a dict of model config fields, e.g. *"),
    ("finetune_baseline.check('x')",
     "finetune_baseline.check: expected the RunResult that finetune_run(...) returns, got str 'x'"),
])
def test_api_misuse_is_one_failed_line(pytester, call, line):
    pytester.makepyfile(f"def test_misuse(finetune_run, finetune_baseline):\n    {call}\n")
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([line])  # the failure is this line, alone
    assert "Traceback" not in result.stdout.str() and "AttributeError" not in result.stdout.str()


@pytest.mark.parametrize("option", ["--finetune-data", "--finetune-baselines", "--finetune-report",
                                    "--finetune-cache-dir"])
def test_a_path_too_long_for_the_file_system_is_a_usage_error(pytester, option):
    result = pytester.runpytest(option, str(pytester.path / ("x" * 300)))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.stderr.fnmatch_lines([f"ERROR: pytest-finetune: {option}*File name too long*"])
