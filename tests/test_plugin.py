"""The plugin as a user sees it: installed, its options, markers and fixtures just work."""
import pytest

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.slow  # every test starts an inner pytest session or a subprocess

PRINT_SETTINGS = """
def test_show(finetune_settings):
    print("MODEL=%s DATA=%s DEVICE=%s" % (finetune_settings.model, finetune_settings.data, finetune_settings.device))
"""


def test_help_lists_options(pytester):
    result = pytester.runpytest("--help")
    for flag in ("--finetune-model", "--finetune-data", "--finetune-device", "--finetune-baselines",
                 "--finetune-update-baselines", "--finetune-seeds", "--finetune-report"):
        result.stdout.fnmatch_lines([f"*{flag}*"])


def test_report_header_names_versions_device_data_and_baselines(pytester):
    from importlib.metadata import version

    data = pytester.mkdir("mrpc")  # a named data folder must exist (else: usage error)
    result = pytester.runpytest("--finetune-data", str(data), "--finetune-device", "cpu")
    result.stdout.fnmatch_lines([
        f"pytest-finetune *: torch {version('torch')}, transformers {version('transformers')}, "
        f"tokenizers *, datasets {version('datasets')}, accelerate *, evaluate *",
        f"pytest-finetune: device cpu, model embedded all-MiniLM-L6-v2, data {data}, baselines *baselines",
    ])


def test_markers_are_registered(pytester):
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.gpu:*", "@pytest.mark.full:*"])


def test_markers_work_with_strict_markers(pytester):
    pytester.makepyfile("""
        import pytest
        @pytest.mark.full
        def test_a(): pass
    """)
    pytester.runpytest("--strict-markers").assert_outcomes(passed=1)


@pytest.mark.parametrize("cli, env, ini, expected", [
    ([], {}, None, "DEVICE=auto"),
    ([], {}, "cpu", "DEVICE=cpu"),
    ([], {"PYTEST_FINETUNE_DEVICE": "cuda"}, "cpu", "DEVICE=cuda"),
    (["--finetune-device", "cpu"], {"PYTEST_FINETUNE_DEVICE": "cuda"}, "auto", "DEVICE=cpu"),
])
def test_precedence_cli_env_ini_default(pytester, monkeypatch, cli, env, ini, expected):
    monkeypatch.delenv("PYTEST_FINETUNE_DEVICE", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    if ini:
        pytester.makeini(f"[pytest]\nfinetune_device = {ini}\n")
    pytester.makepyfile(PRINT_SETTINGS)
    result = pytester.runpytest("-s", *cli)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*{expected}*"])


def test_data_env_variable_is_read(pytester, monkeypatch):
    folder = pytester.mkdir("some-where")
    monkeypatch.setenv("PYTEST_FINETUNE_MRPC_DIR", str(folder))
    pytester.makepyfile(PRINT_SETTINGS)
    pytester.runpytest("-s").stdout.fnmatch_lines([f"*DATA={folder}*"])


def test_bad_option_value_is_a_usage_error(pytester):
    pytester.makepyfile(PRINT_SETTINGS)
    result = pytester.runpytest("--finetune-device", "tpu")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--finetune-device*'tpu' is not one of auto, cpu, cuda*"])


def test_gpu_marker_skips_cleanly_without_cuda(pytester):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the skip path cannot be observed")
    pytester.makepyfile("""
        import pytest
        @pytest.mark.gpu
        def test_needs_gpu(): raise AssertionError("must not run")
    """)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*no CUDA device*"])


DATA_TEST = """
def test_data(mrpc_raw):
    assert len(mrpc_raw["train"]) > 0
"""


def test_data_tests_skip_without_data_naming_the_option(pytester, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("PYTEST_FINETUNE_MRPC_DIR", raising=False)
    pytester.makepyfile(DATA_TEST)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*--finetune-data*PYTEST_FINETUNE_MRPC_DIR*"])


@pytest.mark.slow
def test_data_tests_fail_in_ci_without_data_when_the_project_opted_in(pytester, monkeypatch):
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("PYTEST_FINETUNE_MRPC_DIR", raising=False)
    pytester.makeini("[pytest]\nfinetune_ci_require_data = true\n")
    pytester.makepyfile(DATA_TEST)
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)  # failed in fixture setup: an error, never a skip
    result.stdout.fnmatch_lines(["*CI=true and finetune_ci_require_data: data tests may not skip*"])


@pytest.mark.slow
def test_ci_true_alone_does_not_fail_a_project_that_did_not_opt_in(pytester, monkeypatch):
    """GitHub Actions sets CI=true for every job: a project that merely has the plugin
    installed must not go red because MRPC is absent."""
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("PYTEST_FINETUNE_MRPC_DIR", raising=False)
    pytester.makepyfile(DATA_TEST)
    result = pytester.runpytest()
    result.assert_outcomes(skipped=1)
    assert result.ret == 0


USER_HYPOTHESIS_PROFILE = """
from hypothesis import given, settings, strategies as st

settings.register_profile("ci", max_examples=500)
settings.load_profile("ci")

seen = []

@given(st.integers())
def test_property(x):
    seen.append(x)

def test_users_profile_is_in_force():
    assert settings().max_examples == 500
    assert len(seen) > 25  # not the finetune-ci profile's 25 examples
"""


# Subprocesses: loading a Hypothesis profile is process-global, and an in-process inner
# session would change the settings of this session's own property tests.
@pytest.mark.slow
def test_users_own_hypothesis_ci_profile_is_kept(pytester):
    pytester.makepyfile(USER_HYPOTHESIS_PROFILE)
    pytester.runpytest_subprocess("-p", "no:randomly").assert_outcomes(passed=2)


@pytest.mark.slow
def test_hypothesis_profile_is_loaded_only_when_asked(pytester):
    pytester.makepyfile("""
        from hypothesis import settings

        def test_profile():
            assert settings().max_examples == 25 and settings().derandomize
    """)
    pytester.runpytest_subprocess("--finetune-hypothesis-profile", "finetune-ci").assert_outcomes(passed=1)
    bogus = pytester.runpytest_subprocess("--finetune-hypothesis-profile", "bogus")
    assert bogus.ret == pytest.ExitCode.USAGE_ERROR
    bogus.stderr.fnmatch_lines(["*--finetune-hypothesis-profile*'bogus' is not one of finetune-ci, finetune-dev*"])


def test_fixtures_are_documented(pytester):
    result = pytester.runpytest("--fixtures")
    for name in ("finetune_settings", "finetune_config", "mrpc_raw", "tokenizer", "mrpc_tokenized", "data_collator",
                 "train_dataloader", "eval_dataloader", "finetune_run"):
        result.stdout.fnmatch_lines([f"{name} *", ])


@pytest.mark.slow
def test_deprecated_finetune_config_fixture_still_works_and_warns(pytester):
    pytester.makepyfile("""
        def test_old_name(finetune_config, finetune_settings):
            assert finetune_config is finetune_settings
    """)
    result = pytester.runpytest("-W", "error::DeprecationWarning")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*finetune_config fixture is deprecated; use finetune_settings*"])
    pytester.runpytest().assert_outcomes(passed=1)


def test_loading_the_plugin_imports_no_ml_library():
    """Every pytest session where the package is installed loads the plugin: it must stay cheap.

    torch + transformers + datasets take ~6 s to import on a 2-core machine; they load when
    a fixture or run first needs them, not when pytest starts.
    """
    import subprocess
    import sys

    code = ("import sys, pytest_finetune.plugin, pytest_finetune\n"
            "heavy = sorted({'torch', 'transformers', 'datasets', 'evaluate', 'accelerate'} & set(sys.modules))\n"
            "print(','.join(heavy))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "", f"importing the plugin imported: {done.stdout.strip()}"


STARTED_HOOK = """
import pytest_finetune.plugin.run_fixtures as run_fixtures

STARTED = []
REAL = run_fixtures.execute_run

def pytest_finetune_run_started(config, run_config):
    STARTED.append((config, run_config.runner, run_config.epochs))

def pytest_configure(config):  # no training: what is under test is when the hook fires
    run_fixtures.execute_run = lambda run_config, cache_dir=None, **_: ("trained", run_config.key())

def pytest_unconfigure(config):
    run_fixtures.execute_run = REAL  # in-process: the outer session shares the module
"""


def test_run_started_hook_fires_once_per_trained_config(pytester, monkeypatch):
    monkeypatch.setenv("PYTEST_FINETUNE_MRPC_DIR", str(pytester.path))  # a folder that exists
    pytester.makeconftest(STARTED_HOOK)
    pytester.makepyfile("""
        from conftest import STARTED

        def test_runs(finetune_run, pytestconfig):
            first = finetune_run(runner="loop", profile="tiny", epochs=1)
            assert finetune_run(runner="loop", profile="tiny", epochs=1) is first
            finetune_run(runner="trainer", profile="tiny", epochs=1)
            assert [(c is pytestconfig, r, e) for c, r, e in STARTED] == [(True, "loop", 1), (True, "trainer", 1)]
    """)
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=1)
