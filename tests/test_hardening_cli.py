"""Issue 13's option, baseline, report and CLI classes (3, 6, 11, 17, 18, 19, 20, 22, 23) and
issue 14 item 5 (the CLI): every bad input is one line naming the file/option/field and what
was expected, and nothing is silently accepted.

Pytest sessions get a usage error at configure time (``pytest-finetune: <line>``), the CLI
exits 2 with ``pytest-finetune: <line>`` on stderr; a regression is 1, an internal error 3.
"""
from __future__ import annotations

import json
import math
import os
import re
import time
from pathlib import Path

import pytest

from pytest_finetune._io import ORPHAN_AGE_S, loads_json, write_json
from pytest_finetune.baselines.compare import compare
from pytest_finetune.baselines.store import PACKAGED_BASELINES, read_baseline, stored_baselines
from pytest_finetune.cli import exit_codes
from pytest_finetune.cli.main import _parser, main
from pytest_finetune.config.options import OPTIONS_BY_DEST, resolve
from pytest_finetune.config.settings import FinetuneSettings
from pytest_finetune.errors import BaselineError, ConfigError
from pytest_finetune.report.session import SessionReport
from pytest_finetune.runs import RunConfig, RunResult

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parent.parent
HEADER = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"


def one_line(text: str) -> str:
    text = text.strip()
    assert text and "\n" not in text, text
    return text


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of the console script (argparse's own exits included)."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def tsv_folder(folder: Path) -> Path:
    """Two made-up pairs per split (not MRPC's text: its licence forbids copies)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("train.tsv", "dev.tsv"):
        (folder / name).write_text(HEADER + "1\t1\t2\tA cat sat .\tA cat sat down .\n"
                                   "0\t3\t4\tPrices fell .\tHe left .\n")
    return folder


def run_result(accuracy=0.8, f1=0.8, losses=None, seed=42, **config) -> RunResult:
    return RunResult(config=RunConfig(seed=seed, **config), device="cpu",
                     losses=list(losses or [0.7, 0.6, 0.5, 0.4]), learning_rates=[1e-4] * 4,
                     eval_history=[{"epoch": 1.0, "accuracy": accuracy, "f1": f1, "eval_loss": 0.5}],
                     # 408 eval predictions (MRPC dev): the band floor is 0.01, not 2 of 32 pairs
                     accuracy=accuracy, f1=f1, prediction_counts=[100, 308], param_delta=0.1,
                     train_examples=32, wall_time_s=1.0, train_time_s=1.0, examples_per_s=32.0,
                     versions={"torch": "2.13.0"}, hardware={"machine": "x86_64"},
                     data_source="glue-tsv:sha256:0123456789abcdef", model_source=None)


def good_baseline(**changes) -> dict:
    record = {"format_version": 1, "scenario": {"task": "mrpc", "runner": "loop"}, "seeds": [42, 43],
              "metrics": {m: {"mean": 0.8, "std": 0.0, "min": 0.8, "max": 0.8, "values": [0.8, 0.8]}
                          for m in ("accuracy", "f1")},
              "tolerance": {"k": 3.0, "metric_floor": 0.01, "loss_floor": 0.05},
              "loss_curve": {"steps": [1, 2], "mean": [0.6, 0.5], "std": [0.0, 0.0]},
              "config": {}, "versions": {}}
    record.update(changes)
    return record


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --- class 6: non-finite numbers, everywhere a number is read -----------------------------------

@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "NaN", "1e309", "Infinity", "-1"])
def test_tolerance_k_must_be_a_finite_number(value):
    with pytest.raises(ConfigError) as info:
        resolve(OPTIONS_BY_DEST["tolerance_k"], value, None, environ={})
    assert re.match(r"--finetune-tolerance-k / PYTEST_FINETUNE_TOLERANCE_K / ini finetune_tolerance_k: "
                    r"expected a finite number >= 0, got ", one_line(str(info.value)))


@pytest.mark.parametrize("field, value", [("lr", math.inf), ("lr", math.nan), ("weight_decay", math.inf),
                                          ("max_grad_norm", math.nan), ("warmup_ratio", 2.0),
                                          ("dropout", -0.1), ("seed", -1), ("seed", 2**32)])
def test_run_config_numbers_must_be_finite_and_in_range(field, value):
    with pytest.raises(ConfigError) as info:
        RunConfig(**{field: value})
    assert one_line(str(info.value)).startswith(f"{field}: expected")


@pytest.mark.parametrize("text", ['{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}', '{"a": 1e309}'])
def test_json_reader_refuses_non_finite_numbers(text):
    with pytest.raises(ValueError, match="finite|too large"):
        loads_json(text)


def test_writer_refuses_non_finite_numbers(tmp_path):
    with pytest.raises(ValueError):
        write_json(tmp_path / "x.json", {"accuracy": math.nan})
    assert not (tmp_path / "x.json").exists()


def test_cli_tolerance_inf_exits_2_before_training(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(capsys, "run", "--tolerance-k", "inf", "--data", str(tsv_folder(tmp_path / "d")))
    assert code == exit_codes.BAD_INPUT
    assert one_line(err).startswith("pytest-finetune: --finetune-tolerance-k") and "finite" in err


# --- class 17: baseline validation ---------------------------------------------------------------

def _metric(**stats):
    return lambda r: r["metrics"]["accuracy"].update(stats)


BASELINE_CASES = [
    ("negative std", _metric(std=-0.1), r"metrics\.accuracy\.std is -0\.1; expected a number >= 0"),
    ("huge std", _metric(std=5.0), r"metrics\.accuracy\.std is 5\.0 but its values give 0"),
    ("std that switches the check off", _metric(std=0.3),
     r"metrics\.accuracy\.std is 0\.3 but its values give 0"),
    ("mean not its values'", _metric(mean=0.2), r"metrics\.accuracy\.mean is 0\.2 but its values give 0\.8"),
    ("missing values", lambda r: r["metrics"]["accuracy"].pop("values"),
     r"metrics\.accuracy\.values must be a non-empty list of numbers"),
    ("values of another length", _metric(values=[0.8]), r"metrics\.accuracy\.values has 1 value\(s\) for 2 seed"),
    ("value outside [0, 1]", _metric(values=[0.8, 1.8]), r"metrics\.accuracy\.values must lie in \[0, 1\]"),
    ("string in values", _metric(values=[0.8, "0.8"]), r"metrics\.accuracy\.values must be a non-empty list"),
    ("negative metric floor", lambda r: r["tolerance"].update(metric_floor=-0.5),
     r"tolerance\.metric_floor is -0\.5; expected a number >= 0"),
    ("negative loss floor", lambda r: r["tolerance"].update(loss_floor=-1),
     r"tolerance\.loss_floor is -1; expected a number >= 0"),
    ("negative k", lambda r: r["tolerance"].update(k=-3), r"tolerance\.k is -3; expected a number >= 0"),
    ("format_version true", lambda r: r.update(format_version=True), r"format_version True is not one"),
    ("format_version 0", lambda r: r.update(format_version=0), r"format_version 0 is not one"),
    ("format_version text", lambda r: r.update(format_version="1"), r"format_version '1' is not one"),
    ("no seeds", lambda r: r.update(seeds=[]), r"seeds must be a non-empty list"),
    ("negative loss std", lambda r: r["loss_curve"].update(std=[0.0, -0.1]),
     r"loss_curve mean and std must be >= 0"),
    ("steps not increasing", lambda r: r["loss_curve"].update(steps=[2, 1]),
     r"loss_curve\.steps must be increasing whole numbers"),
    ("negative noise envelope (format 2)", lambda r: r.update(noise={"loss_curve": [-1.0]}),
     r"noise must be an object of numbers >= 0"),
]


@pytest.mark.parametrize("mutate, pattern", [c[1:] for c in BASELINE_CASES], ids=[c[0] for c in BASELINE_CASES])
def test_baseline_validation(tmp_path, mutate, pattern):
    record = good_baseline()
    mutate(record)
    path = write_text(tmp_path / "b.json", json.dumps(record))
    with pytest.raises(BaselineError) as info:
        read_baseline(path)
    message = one_line(str(info.value))
    assert message.startswith(str(path)) and re.search(pattern, message), message


@pytest.mark.parametrize("token", ["NaN", "Infinity", "1e309"])
def test_baseline_with_a_non_finite_number_is_refused(tmp_path, token):
    text = json.dumps(good_baseline()).replace('"values": [0.8, 0.8]', f'"values": [0.8, {token}]', 1)
    path = write_text(tmp_path / "b.json", text)
    with pytest.raises(BaselineError) as info:
        read_baseline(path)
    assert re.search(rf"b\.json: .*{token if token != '1e309' else 'too large'}.*finite numbers only",
                     one_line(str(info.value)))


def test_committed_baselines_stay_valid():
    files = [p for p in stored_baselines(PACKAGED_BASELINES) if not p.name.endswith("-fingerprints.json")]
    assert files
    for path in files:
        read_baseline(path)


def test_a_band_that_excludes_nothing_is_reported_not_silent():
    """Real seeds 0.0 and 1.0: a valid record, but mean - 3*std < 0 admits everything."""
    record = good_baseline()
    record["metrics"]["accuracy"].update(mean=0.5, std=math.sqrt(0.5), min=0.0, max=1.0, values=[0.0, 1.0])
    comparison = compare(run_result(accuracy=0.0, losses=[0.6, 0.5]), record, "s")
    assert any(note.startswith("accuracy is not checked: the band") for note in comparison.notes)


# --- class 11 (and 20): `run` checks everything before training ---------------------------------

@pytest.fixture
def no_training(monkeypatch):
    import pytest_finetune.runs.execute as execute

    def refuse(*args, **kwargs):
        raise AssertionError("training started although an input was bad")

    monkeypatch.setattr(execute, "execute_run", refuse)


def _run_args(tmp_path, *extra):
    return ("run", "--runner", "trainer", "--data", str(tsv_folder(tmp_path / "data")),
            "--baselines", str(tmp_path / "baselines"), "--cache-dir", str(tmp_path / "cache"), *extra)


@pytest.mark.parametrize("case, pattern", [
    ("output is a file", r"--output: .*out is a file, not a folder"),
    ("output under a file", r"--output: .*sub cannot be created: .*blocker is a file"),
    ("broken baseline", r"mrpc-all-MiniLM-L6-v2-trainer-tiny-cpu-fp32\.json:1: invalid JSON"),
    ("NaN in the baseline", r"trainer-tiny-cpu-fp32\.json: NaN is not a finite number"),
    ("model folder missing", r"model folder .*no-model does not exist"),
    ("model folder without weights", r"model folder .*empty-model: no config\.json"),
    ("data folder without splits", r"empty-data: no train or validation split found; expected train\.tsv"),
    ("baselines is a file", r"baselines folder .*bfile is a file, not a folder"),
    ("cache dir is a file", r"--finetune-cache-dir.*cache folder .*cfile is a file, not a folder"),
    ("seed -1", r"argument --seed: expected a whole number 0\.\.4294967295, got -1"),
    ("seed text", r"argument --seed: expected a whole number 0\.\.4294967295, got 'x'"),
])
def test_run_checks_every_input_before_training(tmp_path, capsys, monkeypatch, no_training, case, pattern):
    monkeypatch.chdir(tmp_path)
    extra: list[str] = ["--output", str(tmp_path / "out")]
    if case == "output is a file":
        write_text(tmp_path / "out", "x")
    elif case == "output under a file":
        write_text(tmp_path / "blocker", "x")
        extra = ["--output", str(tmp_path / "blocker" / "sub")]
    elif case == "broken baseline":
        write_text(tmp_path / "baselines" / "mrpc-all-MiniLM-L6-v2-trainer-tiny-cpu-fp32.json", "{oops")
    elif case == "NaN in the baseline":
        write_text(tmp_path / "baselines" / "mrpc-all-MiniLM-L6-v2-trainer-tiny-cpu-fp32.json",
                   json.dumps(good_baseline()).replace("0.8,", "NaN,", 1))
    elif case == "model folder missing":
        extra += ["--model", str(tmp_path / "no-model")]
    elif case == "model folder without weights":
        (tmp_path / "empty-model").mkdir()
        extra += ["--model", str(tmp_path / "empty-model")]
    elif case == "data folder without splits":
        (tmp_path / "empty-data").mkdir()
        extra += ["--data", str(tmp_path / "empty-data")]
    elif case == "baselines is a file":
        extra += ["--baselines", str(write_text(tmp_path / "bfile", "x"))]
    elif case == "cache dir is a file":
        extra += ["--cache-dir", str(write_text(tmp_path / "cfile", "x"))]
    elif case == "seed -1":
        extra += ["--seed", "-1"]
    elif case == "seed text":
        extra += ["--seed", "x"]
    started = time.perf_counter()
    code, _, err = cli(capsys, *_run_args(tmp_path), *extra)
    assert code == exit_codes.BAD_INPUT, err
    line = one_line(err)
    assert line.startswith("pytest-finetune: ") and re.search(pattern, line), line
    assert time.perf_counter() - started < 60


# --- class 18: report / baselines / cache paths, at configure time --------------------------------

@pytest.mark.parametrize("dest, make, pattern", [
    ("report", lambda t: t, r"report path .* is a folder, not a file"),
    ("report", lambda t: write_text(t / "f", "x") / "r.json", r"report path .*f/r\.json cannot be created: .*f is a file"),
    ("cache_dir", lambda t: write_text(t / "f", "x"), r"cache folder .*f is a file, not a folder"),
])
def test_output_paths_are_checked_when_the_session_starts(tmp_path, dest, make, pattern):
    with pytest.raises(ConfigError) as info:
        resolve(OPTIONS_BY_DEST[dest], str(make(tmp_path)), None, environ={})
    assert re.search(pattern, one_line(str(info.value)))


def test_baselines_path_that_is_a_file_is_refused(tmp_path):
    write_text(tmp_path / "baselines", "x")
    with pytest.raises(ConfigError) as info:
        FinetuneSettings.from_sources({}, {}, tmp_path, environ={})
    assert re.search(r"--finetune-baselines .*baselines folder .*baselines is a file, not a folder",
                     one_line(str(info.value)))


USAGE_TEST = "def test_nothing():\n    pass\n"


@pytest.mark.slow
@pytest.mark.parametrize("case, pattern", [
    ("report onto a folder", r"--finetune-report.*report path .*is a folder, not a file"),
    ("report under a file", r"--finetune-report.*cannot be created: .*is a file, not a folder"),
    ("baselines a file", r"--finetune-baselines.*is a file, not a folder"),
    ("cache a file", r"--finetune-cache-dir.*is a file, not a folder"),
    ("tolerance inf", r"--finetune-tolerance-k.*expected a finite number >= 0, got 'inf'"),
    ("tolerance 1e309 in ini", r"finetune_tolerance_k: expected a finite number >= 0, got '1e309'"),
    ("hypothesis profile bogus", r"--finetune-hypothesis-profile.*'bogus' is not one of"),
])
def test_bad_paths_and_numbers_are_usage_errors_in_pytest(pytester, monkeypatch, case, pattern):
    for name in ("PYTEST_FINETUNE_REPORT", "PYTEST_FINETUNE_CACHE", "PYTEST_FINETUNE_BASELINES",
                 "PYTEST_FINETUNE_TOLERANCE_K"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(USAGE_TEST)
    blocker = pytester.makefile(".txt", blocker="x")
    args = {"report onto a folder": ["--finetune-report", str(pytester.path)],
            "report under a file": [f"--finetune-report={blocker}/r.json"],
            "baselines a file": [f"--finetune-baselines={blocker}"],
            "cache a file": [f"--finetune-cache-dir={blocker}"],
            "tolerance inf": ["--finetune-tolerance-k", "inf"],
            "hypothesis profile bogus": ["--finetune-hypothesis-profile", "bogus"]}.get(case, [])
    if case == "tolerance 1e309 in ini":
        pytester.makeini("[pytest]\nfinetune_tolerance_k = 1e309\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if "pytest-finetune:" in line]
    assert len(errors) == 1 and re.search(pattern, errors[0]), result.stderr.lines
    assert "Traceback" not in result.stderr.str() and "INTERNALERROR" not in result.stderr.str()


# --- class 3: the baselines folder resolves from the ini file's folder, else the invocation folder -

@pytest.mark.slow
def test_space_form_data_option_does_not_move_the_baselines_folder(pytester, monkeypatch):
    monkeypatch.delenv("PYTEST_FINETUNE_BASELINES", raising=False)
    project = pytester.path / "work" / "project"
    data = tsv_folder(pytester.path / "datasets" / "mrpc")
    write_text(project / "test_where.py",
               "from pathlib import Path\n\n"
               "def test_where(finetune_settings):\n"
               "    assert finetune_settings.baselines == Path.cwd() / 'baselines', finetune_settings.baselines\n")
    monkeypatch.chdir(project)
    result = pytester.runpytest("--finetune-data", str(data), "test_where.py")
    result.assert_outcomes(passed=1)
    # What made this a defect: pytest itself put the rootdir at the common ancestor.
    assert any(line.startswith("rootdir: ") and not line.startswith(f"rootdir: {project}")
               for line in result.stdout.lines), result.stdout.lines


@pytest.mark.slow
def test_baselines_folder_resolves_from_the_ini_file(pytester, monkeypatch):
    monkeypatch.delenv("PYTEST_FINETUNE_BASELINES", raising=False)
    pytester.makeini("[pytest]\nfinetune_baselines = stored\n")
    write_text(pytester.path / "sub" / "test_where.py",
               "def test_where(finetune_settings, pytestconfig):\n"
               "    assert finetune_settings.baselines == pytestconfig.inipath.parent / 'stored'\n")
    monkeypatch.chdir(pytester.path / "sub")
    pytester.runpytest("test_where.py").assert_outcomes(passed=1)


# --- class 19 and issue 14 item 5: diff, exit codes, help, version --------------------------------

def report_file(path: Path, results) -> Path:
    return write_text(path, json.dumps({"results": results}))


def result_dict(**changes) -> dict:
    data = run_result().to_dict()
    for metric in ("accuracy", "f1"):  # the final metrics live in the "metrics" mapping
        if metric in changes:
            data["metrics"][metric] = changes.pop(metric)
    data.update(changes)
    return data


def _without(key):
    data = result_dict()
    data.pop(key)
    return {"s": data}


def _legacy(**changes):
    """A result as written before tasks had their own metrics: ``accuracy`` and ``f1`` keys."""
    data = result_dict()
    data.update(data.pop("metrics"), **changes)
    return data


DIFF_CASES = [
    ("missing metrics", lambda: _without("metrics"), r"new\.json: results\.s: missing key 'metrics' \(or, in "
                                                      r"results written before tasks had their own metrics, 'accuracy'\)"),
    ("legacy result missing f1", lambda: {"s": {k: v for k, v in _legacy().items() if k != "f1"}},
     r"results\.s: missing key 'metrics' \(or, .* 'f1'\)"),
    ("legacy string metric", lambda: {"s": _legacy(f1="0.8")}, r"results\.s\.f1: expected a number in \[0, 1\], found '0\.8'"),
    ("missing losses", lambda: _without("losses"), r"new\.json: results\.s\.losses: expected a non-empty list"),
    ("list results", lambda: [result_dict()], r"new\.json: results: expected an object of scenario -> result, found list"),
    ("empty losses", lambda: {"s": result_dict(losses=[])}, r"results\.s\.losses: expected a non-empty list of numbers"),
    ("string metric", lambda: {"s": result_dict(metrics={"accuracy": 0.8, "f1": "0.8"})},
     r"results\.s\.metrics\.f1: expected a number in \[0, 1\], found '0\.8'"),
    ("metric above 1", lambda: {"s": result_dict(metrics={"accuracy": 80, "f1": 0.8})},
     r"results\.s\.metrics\.accuracy: expected a number in \[0, 1\], found 80"),
    ("metrics a list", lambda: {"s": result_dict(metrics=[0.8])}, r"results\.s\.metrics: expected a non-empty object"),
    ("string losses", lambda: {"s": result_dict(losses=["a"])}, r"results\.s\.losses: expected a non-empty list"),
    ("result not an object", lambda: {"s": [1]}, r"results\.s: expected an object \(a run's result\), found list"),
    ("config not an object", lambda: {"s": result_dict(config=None)}, r"results\.s\.config: expected an object"),
    ("bad runner in config", lambda: {"s": result_dict(config={"runner": "no runner"})},
     r"results\.s\.config: runner: expected a registered runner's name"),
    ("versions a list", lambda: {"s": result_dict(versions=[])}, r"results\.s\.versions: expected an object"),
]


@pytest.mark.parametrize("make, pattern", [c[1:] for c in DIFF_CASES], ids=[c[0] for c in DIFF_CASES])
def test_diff_with_a_malformed_report_exits_2_with_one_line(tmp_path, capsys, make, pattern):
    old = report_file(tmp_path / "old.json", {"s": result_dict()})
    new = report_file(tmp_path / "new.json", make())
    code, _, err = cli(capsys, "diff", str(old), str(new), "--fail-on-regression")
    assert code == exit_codes.BAD_INPUT
    line = one_line(err)
    assert line.startswith("pytest-finetune: ") and re.search(pattern, line), line


@pytest.mark.parametrize("text, pattern", [
    ("{not json", r"new\.json:1: invalid JSON"),
    ('{"results": {"s": {"accuracy": NaN}}}', r"new\.json: NaN is not a finite number"),
    ("[1, 2]", r"new\.json: neither a --finetune-report file"),
    ("", r"new\.json:1: invalid JSON"),
])
def test_diff_with_an_unreadable_report_exits_2(tmp_path, capsys, text, pattern):
    old = report_file(tmp_path / "old.json", {"s": result_dict()})
    new = write_text(tmp_path / "new.json", text)
    code, _, err = cli(capsys, "diff", str(old), str(new))
    assert code == exit_codes.BAD_INPUT and re.search(pattern, one_line(err)), err


def test_diff_of_a_missing_file_exits_2(tmp_path, capsys):
    old = report_file(tmp_path / "old.json", {"s": result_dict()})
    code, _, err = cli(capsys, "diff", str(old), str(tmp_path / "gone.json"))
    assert code == exit_codes.BAD_INPUT and "gone.json: cannot read" in one_line(err)


def test_diff_fails_on_regression_only_when_asked(tmp_path, capsys):
    old = report_file(tmp_path / "old.json", {"s": result_dict()})
    new = report_file(tmp_path / "new.json", {"s": result_dict(accuracy=0.6)})
    code, out, _ = cli(capsys, "diff", str(old), str(new))
    assert code == exit_codes.OK and "FAIL" in out
    code, out, _ = cli(capsys, "diff", str(old), str(new), "--fail-on-regression")
    assert code == exit_codes.REGRESSION
    assert re.search(r"s: accuracy: baseline 0\.8000 .*now 0\.6000, allowed >= 0\.7900", out), out
    assert "regression: 1 check(s) below the band" in out


def test_diff_band_is_the_stored_seed_spread(tmp_path, capsys):
    """The same drop passes when the stored baseline's seeds spread that wide."""
    old = report_file(tmp_path / "old.json", {"s": result_dict()})
    new = report_file(tmp_path / "new.json", {"s": result_dict(accuracy=0.74)})
    assert cli(capsys, "diff", str(old), str(new), "--fail-on-regression")[0] == exit_codes.REGRESSION
    stored = good_baseline(seeds=[42, 43, 44], loss_curve={"steps": [1, 2, 3, 4], "mean": [0.7, 0.6, 0.5, 0.4],
                                                         "std": [0.1] * 4})
    stored["metrics"]["accuracy"].update(mean=0.8, std=0.03, min=0.77, max=0.83, values=[0.77, 0.8, 0.83])
    stored["metrics"]["f1"].update(values=[0.8, 0.8, 0.8])
    write_text(tmp_path / "baselines" / "s.json", json.dumps(stored))
    code, out, _ = cli(capsys, "diff", str(old), str(new), "--fail-on-regression",
                       "--baselines", str(tmp_path / "baselines"))
    assert code == exit_codes.OK, out
    assert "band width from" in out and "s.json's seed spread (3 seed(s))" in out


def test_diff_loss_curve_beyond_the_band_is_a_regression(tmp_path, capsys):
    old = report_file(tmp_path / "old.json", {"s": result_dict()})
    new = report_file(tmp_path / "new.json", {"s": result_dict(losses=[0.7, 0.7, 0.7, 0.7])})
    code, out, _ = cli(capsys, "diff", str(old), str(new), "--fail-on-regression")
    assert code == exit_codes.REGRESSION and "loss curve: at step" in out


def test_diff_markdown(tmp_path, capsys):
    old = report_file(tmp_path / "old.json", {"s": result_dict()})
    new = report_file(tmp_path / "new.json", {"s": result_dict(accuracy=0.6)})
    md = tmp_path / "summary.md"
    assert cli(capsys, "diff", str(old), str(new), "--markdown", str(md))[0] == exit_codes.OK
    text = md.read_text()
    assert text.startswith("### pytest-finetune diff") and "| scenario | what | old | new |" in text
    assert "| s | accuracy | 0.8000 | 0.6000 | -0.2000 | >= 0.7900 | ❌ FAIL |" in text
    code, out, _ = cli(capsys, "diff", str(old), str(new), "--markdown", "-")
    assert code == exit_codes.OK and out == text


def test_diff_markdown_target_is_checked_first(tmp_path, capsys):
    old = report_file(tmp_path / "old.json", {"s": result_dict()})
    code, _, err = cli(capsys, "diff", str(old), str(old), "--markdown", str(tmp_path))
    assert code == exit_codes.BAD_INPUT and re.search(r"--markdown: .* is a folder, not a file", one_line(err))


def test_diff_fail_on_regression_with_nothing_in_common_is_bad_input(tmp_path, capsys):
    old = report_file(tmp_path / "old.json", {"a": result_dict()})
    new = report_file(tmp_path / "new.json", {"b": result_dict()})
    code, _, err = cli(capsys, "diff", str(old), str(new), "--fail-on-regression")
    assert code == exit_codes.BAD_INPUT and "share no scenario" in one_line(err)


def test_an_internal_error_exits_3_not_1(tmp_path, capsys, monkeypatch):
    import pytest_finetune.baselines.compare as compare_module

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(compare_module, "compare", broken)
    old = report_file(tmp_path / "old.json", {"s": result_dict()})
    code, _, err = cli(capsys, "diff", str(old), str(old))
    assert code == exit_codes.INTERNAL_ERROR
    assert "RuntimeError: a bug" in err and err.strip().splitlines()[-1].startswith("pytest-finetune: internal error")


def test_version_and_exit_codes_in_help(capsys):
    from pytest_finetune import __version__

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0 and capsys.readouterr().out.strip() == f"pytest-finetune {__version__}"
    for argv in (["--help"], ["run", "--help"], ["diff", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        out = capsys.readouterr().out
        assert "exit codes:" in out and "2  bad input" in out and "3  internal error" in out


def test_every_option_of_every_subcommand_has_help():
    import argparse

    parser = _parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in [("", parser), *subparsers.choices.items()]:
        for action in sub._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            assert action.help and action.help != argparse.SUPPRESS, f"{name} {action.option_strings or action.dest}"


def _documentation() -> str:
    """The README and the docs/ pages it links to: where the user reads."""
    return "\n".join(p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])


def test_the_docs_document_the_exit_codes():
    readme = _documentation()
    for line in exit_codes.EPILOG.splitlines()[1:]:
        code, meaning = line.split(None, 1)
        assert re.search(rf"\|\s*`?{code}`?\s*\|", readme), f"README lacks exit code {code}"


def test_unknown_subcommand_is_one_line_exit_2(capsys):
    code, _, err = cli(capsys, "frobnicate")
    assert code == exit_codes.BAD_INPUT
    assert one_line(err).startswith("pytest-finetune: argument COMMAND: invalid choice")


# --- class 22: orphan temporary files -------------------------------------------------------------

def test_orphan_temp_files_are_ignored_and_old_ones_cleaned(tmp_path):
    old = write_text(tmp_path / ".mrpc-x.json.abcd1234.tmp", "{half")
    young = write_text(tmp_path / ".mrpc-y.json.efgh5678.tmp", "{half")
    user_file = write_text(tmp_path / "notes.tmp", "mine")  # not our pattern: never touched
    stale = time.time() - ORPHAN_AGE_S - 60
    os.utime(old, (stale, stale))
    os.utime(user_file, (stale, stale))
    report = SessionReport()
    report.used_files.add("mrpc-z.json")
    write_json(tmp_path / "mrpc-z.json", {"format_version": 1})
    assert [p.name for p in stored_baselines(tmp_path)] == ["mrpc-z.json"]
    assert report.unused_files(tmp_path) == []
    assert not old.exists() and young.exists() and user_file.exists()


def test_gitignore_guidance_covers_temporary_and_obtained_files():
    assert ".*.tmp" in (ROOT / ".gitignore").read_text().split()
    readme = _documentation()
    assert "*.obtained.json" in readme and ".*.tmp" in readme


# --- class 23: no absolute paths or user names in stored records ----------------------------------

def test_stored_records_name_a_local_model_by_content_not_path(tmp_path):
    folder = tmp_path / "alice" / "my-model"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"\0" * 100)
    result = run_result(model=str(folder))
    result.model_source = None  # as from a caller that did not describe it
    stored = result.to_dict()
    assert re.fullmatch(r"my-model-[0-9a-f]{8}", stored["config"]["model"])
    assert str(tmp_path) not in json.dumps(stored)
    assert RunResult.from_dict(stored).to_dict() == stored


def test_report_has_no_local_paths(tmp_path, monkeypatch):
    home = tmp_path / "home" / "alice"
    project = home / "project"
    project.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    report = SessionReport()
    report.tests["t::x"] = {"outcome": "failed", "duration": 1.0,
                            "message": f"differs from baseline {project}/baselines/b.json; the new "
                                       f"result is in {project}/baselines/b.obtained.json; cache {home}/.cache"}
    report.write(project / "report.json", 3.0, root=project)
    text = (project / "report.json").read_text()
    assert str(tmp_path) not in text and "alice" not in text
    message = json.loads(text)["tests"]["t::x"]["message"]
    assert "baseline baselines/b.json" in message and "cache ~/.cache" in message


@pytest.mark.slow
@pytest.mark.parametrize("override, line", [
    ("seed=-1", "seed: expected a whole number 0..4294967295, got -1"),
    ("lr=float('inf')", "lr: expected a finite number, got inf"),
])
def test_bad_run_override_fails_the_test_with_one_line(pytester, override, line):
    pytester.makepyfile(f"def test_run(finetune_run):\n    finetune_run(runner='loop', {override})\n")
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    assert line in result.stdout.lines, result.stdout.lines  # the failure is this line, alone
    assert "During handling" not in result.stdout.str() and "Traceback" not in result.stdout.str()


# --- neighbours: stored files that are not what they should be ------------------------------------

def test_a_folder_where_a_baseline_belongs_is_one_line(tmp_path):
    from pytest_finetune.baselines.check import stored_baseline

    scenario = {"task": "mrpc", "model": "m", "runner": "loop", "profile": "tiny", "device": "cpu",
                "precision": "fp32"}
    (tmp_path / "mrpc-m-loop-tiny-cpu-fp32.json").mkdir()
    with pytest.raises(BaselineError, match=r"mrpc-m-loop-tiny-cpu-fp32\.json: is not a file; expected"):
        stored_baseline(tmp_path, scenario)


def test_writing_into_a_read_only_baselines_folder_is_one_line(tmp_path, monkeypatch):
    """As a normal user in a read-only folder (simulated: this suite may run as root)."""
    import tempfile

    from pytest_finetune.baselines.store import write_baseline

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refused)
    with pytest.raises(BaselineError) as info:
        write_baseline(tmp_path / "b.json", good_baseline())
    assert re.search(r"b\.json: cannot write \(Permission denied\); expected a writable baselines folder",
                     one_line(str(info.value)))


def test_fingerprint_file_with_bad_versions_is_one_line(tmp_path):
    from pytest_finetune.baselines.check import check_fingerprint, fingerprint_path

    write_text(fingerprint_path(tmp_path, "m"), json.dumps({"format_version": 1, "x": 1, "versions": [1]}))
    with pytest.raises(BaselineError, match=r"fingerprints\.json: versions must be an object of version strings"):
        check_fingerprint(tmp_path, "m", "x", 2)


def test_diff_baselines_that_is_a_file_is_bad_input(tmp_path, capsys):
    old = report_file(tmp_path / "old.json", {"s": result_dict()})
    code, _, err = cli(capsys, "diff", str(old), str(old), "--baselines", str(old))
    assert code == exit_codes.BAD_INPUT and re.search(r"--baselines: .*old\.json is a file, not a folder",
                                                      one_line(err))


def test_diff_with_a_malformed_stored_baseline_is_bad_input(tmp_path, capsys):
    old = report_file(tmp_path / "old.json", {"s": result_dict()})
    write_text(tmp_path / "baselines" / "s.json", json.dumps(good_baseline(seeds=[-1])))
    code, _, err = cli(capsys, "diff", str(old), str(old), "--baselines", str(tmp_path / "baselines"))
    assert code == exit_codes.BAD_INPUT and re.search(r"s\.json: malformed baseline \(seeds must be", one_line(err))


@pytest.mark.parametrize("dest, value, pattern", [
    ("model", "afile", r"--finetune-model / PYTEST_FINETUNE_MODEL / ini finetune_model: model folder .*afile "
                       r"is a file, not a folder"),
    ("model", "./no-such-model", r"--finetune-model .*model folder \./no-such-model does not exist"),
    ("seeds", "99999999999", r"--finetune-seeds .*expected a whole number 1\.\.100, got 99999999999"),
])
def test_more_options_checked_at_start(tmp_path, monkeypatch, dest, value, pattern):
    monkeypatch.chdir(tmp_path)
    write_text(tmp_path / "afile", "x")
    with pytest.raises(ConfigError) as info:
        resolve(OPTIONS_BY_DEST[dest], value, None, environ={})
    assert re.search(pattern, one_line(str(info.value)))


def test_a_hub_id_is_not_taken_for_a_missing_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve(OPTIONS_BY_DEST["model"], "org/name", None, environ={}) == "org/name"


@pytest.mark.parametrize("call, pattern", [
    (lambda: __import__("pytest_finetune").assert_metrics_close({"accuracy": 0.1}, {"accuracy": 0.9}, math.inf),
     r"assert_metrics_close: tolerance of accuracy: expected a finite number >= 0, got inf"),
    (lambda: __import__("pytest_finetune").assert_metrics_close({"accuracy": 0.1}, {"accuracy": math.nan}, 0.1),
     r"assert_metrics_close: expected accuracy: expected a finite number, got nan"),
    (lambda: __import__("pytest_finetune").assert_loss_decreases([1.0, 0.5, 0.4, 0.3], min_relative_drop=math.nan),
     r"min_relative_drop=\.\.\.\): expected a finite number >= 0, got nan"),
    (lambda: __import__("pytest_finetune").assert_not_collapsed([5, 5], max_class_fraction=math.inf),
     r"max_class_fraction=\.\.\.\): expected a finite number >= 0, got inf"),
    (lambda: __import__("pytest_finetune").assert_params_changed(run_result(), min_relative_change=-math.inf),
     r"min_relative_change=\.\.\.\): expected a finite number >= 0, got -inf"),
])
def test_assertion_thresholds_must_be_finite(call, pattern):
    """An infinite tolerance passes anything: a test written with one checks nothing."""
    with pytest.raises(ConfigError) as info:
        call()
    assert re.search(pattern, one_line(str(info.value)))
