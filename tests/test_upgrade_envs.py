"""Environment specs, keys and caching for ``pytest-finetune upgrade``, without installing."""
import json
from importlib.metadata import version

import pytest

from pytest_finetune.upgrade import envs
from pytest_finetune.upgrade.envs import (MARKER, Env, EnvBuilder, OwnSource, env_key, env_requirements,
                                          parse_pip_config, unresolvable_reason)
from pytest_finetune.upgrade.progress import Progress
from pytest_finetune.upgrade.specs import UpgradeInputError, build_sides, make_side, parse_specs

PIP_CONFIG = """\
:env:.default-timeout='180'
:env:.find-links='/opt/wheels'
global.constraint='/etc/xdg/pip/constraints.txt'
global.extra-index-url='file:///opt/pypi/simple file:///opt/pypi-more/simple'
global.find-links='/somewhere/else'
"""

OWN = OwnSource(["-e", "/src"], "editable:/src", ["pytest>=8", "transformers>=5.0", "torch>=2.2", "datasets>=3.0"],
                "0.1.0")


def test_pip_settings_reach_uv_with_pips_precedence():
    settings = parse_pip_config(PIP_CONFIG)
    assert settings.find_links == ["/opt/wheels"]  # PIP_FIND_LINKS beats the global file
    assert settings.constraints == ["/etc/xdg/pip/constraints.txt"]
    assert settings.extra_index_urls == ["file:///opt/pypi/simple", "file:///opt/pypi-more/simple"]
    args = settings.uv_args()
    assert args[:2] == ["--index-strategy", "unsafe-best-match"]
    assert ["--constraint", "/etc/xdg/pip/constraints.txt"] == args[args.index("--constraint"):][:2]
    assert args.count("--extra-index-url") == 2 and "--index-url" not in args


def test_torch_is_pinned_to_this_environment_unless_a_side_names_it():
    old, new = build_sides(["transformers==4.57.6"], ["transformers==5.24.0 accelerate==1.2.0"])
    torch_pin = f"torch=={version('torch')}"
    assert old.requirements == (torch_pin, "transformers==4.57.6")
    assert new.requirements == ("accelerate==1.2.0", torch_pin, "transformers==5.24.0")
    side = make_side("new", parse_specs(["torch==2.12.0", "transformers==5.0.0"], "--new"), "2.13.0+cpu")
    assert side.requirements == ("torch==2.12.0", "transformers==5.0.0")


def test_default_old_side_is_this_environment():
    old, _ = build_sides(None, ["transformers==5.0.0"])
    assert f"transformers=={version('transformers')}" in old.requirements
    assert f"datasets=={version('datasets')}" in old.requirements


@pytest.mark.parametrize("specs, message", [
    (["transformers=5"], "--new: 'transformers=5' is not a pip requirement"),
    (["transformers==5.0 Transformers==5.1"], "--new: Transformers is named twice"),
    ([], "--new: expected at least one pip requirement"),
])
def test_bad_specs_are_one_line(specs, message):
    with pytest.raises(UpgradeInputError, match=message.replace("(", r"\(")) as info:
        build_sides(["transformers==4.57.6"], specs)
    assert "\n" not in str(info.value)


def test_a_spec_with_spaces_is_one_requirement():
    assert [str(r) for r in parse_specs(["transformers >= 4.46, < 5"], "--old")] == ["transformers<5,>=4.46"]


def test_pins_replace_pytest_finetunes_own_requirement():
    side = make_side("old", parse_specs(["transformers==4.57.6"], "--old"), "2.13.0+cpu")
    lines = env_requirements(side, OWN)
    assert lines == ["torch==2.13.0+cpu", "transformers==4.57.6", "datasets>=3.0", "pytest>=8"]


def test_env_key_depends_on_what_is_installed_not_on_spec_order():
    a = make_side("old", parse_specs(["transformers==4.57.6 accelerate==1.2.0"], "--old"), "2.13.0")
    b = make_side("new", parse_specs(["accelerate==1.2.0", "transformers==4.57.6"], "--new"), "2.13.0")
    c = make_side("new", parse_specs(["transformers==4.57.5"], "--new"), "2.13.0")
    key = env_key(env_requirements(a, OWN), OWN)
    assert key == env_key(env_requirements(b, OWN), OWN)
    assert key != env_key(env_requirements(c, OWN), OWN)
    assert key != env_key(env_requirements(a, OWN), OwnSource(["-e", "/other"], "editable:/other",
                                                               OWN.dependencies, OWN.version))


@pytest.mark.parametrize("log, reason", [
    ("error: No solution found when resolving dependencies\n  cause: Because there is no version of "
     "transformers==9.9.9 and you require transformers==9.9.9, we can conclude that your requirements "
     "are unsatisfiable.", "Because there is no version of transformers==9.9.9 and you require"),
    ("  × No solution found when resolving dependencies:\n  ╰─▶ Because you require torch==2.15.0 and "
     "torch<=2.14.1, we can conclude", "Because you require torch==2.15.0 and torch<=2.14.1"),
    ("ERROR: Could not find a version that satisfies the requirement transformers==9.9 (from versions: 4.0)\n"
     "ERROR: No matching distribution found for transformers==9.9",
     "Could not find a version that satisfies the requirement transformers==9.9"),
    ("error: Failed to fetch: `https://pypi.org/simple/torch/`\n  Caused by: dns error", None),
])
def test_unresolvable_pins_are_told_apart_from_other_failures(log, reason):
    found = unresolvable_reason(log)
    assert (found is None) if reason is None else found.startswith(reason)


@pytest.fixture
def builder(tmp_path, monkeypatch):
    """An EnvBuilder whose build step only writes a folder, counting its calls."""
    built = []

    def fake_build(self, side, path, label):
        (path / "venv" / "bin").mkdir(parents=True)
        (path / "venv" / "bin" / "python").write_text("")
        built.append(path)
        return Env(side, path, {"transformers": "x"}, False, 0.0, self.installer)

    monkeypatch.setattr(envs.EnvBuilder, "_build", fake_build)
    made = EnvBuilder(tmp_path, Progress(interval=999))
    made.built = built
    return made


def test_complete_env_is_reused_and_half_built_env_is_rebuilt(builder):
    side, _ = build_sides(["transformers==4.57.6"], ["transformers==5.24.0"])
    first = builder.ensure(side)
    assert not first.reused and (first.path / MARKER).is_file()
    assert json.loads((first.path / MARKER).read_text())["versions"] == {"transformers": "x"}
    again = builder.ensure(side)
    assert again.reused and again.path == first.path and len(builder.built) == 1
    (first.path / MARKER).unlink()  # as after a crash: the marker is written last
    (first.path / "leftover").write_text("half")
    rebuilt = builder.ensure(side)
    assert not rebuilt.reused and not (rebuilt.path / "leftover").exists() and len(builder.built) == 2


@pytest.mark.parametrize("damage", ["complete.json cut short", "complete.json a list", "complete.json without versions",
                                    "venv/ deleted"])
def test_a_damaged_environment_is_rebuilt_not_trusted(builder, damage):
    import io

    said = builder.progress.stream = io.StringIO()
    side, _ = build_sides(["transformers==4.57.6"], ["transformers==5.24.0"])
    first = builder.ensure(side)
    marker = first.path / MARKER
    if damage == "complete.json cut short":
        marker.write_text(marker.read_text()[:20])
    elif damage == "complete.json a list":
        marker.write_text("[]")
    elif damage == "complete.json without versions":
        marker.write_text(json.dumps({"built_at": "x", "installer": "uv"}))
    else:
        import shutil

        shutil.rmtree(first.path / "venv")
    again = builder.ensure(side)
    assert not again.reused and len(builder.built) == 2 and (again.path / MARKER).is_file()
    assert f"[old] environment {first.path.name}: damaged: " in said.getvalue() and "rebuilding" in said.getvalue()


def test_env_subprocess_does_not_inherit_pythonpath(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/somewhere")
    side, _ = build_sides(["transformers==4.57.6"], ["transformers==5.24.0"])
    env = Env(side, tmp_path, {}, False, 0.0, "uv").subprocess_env()
    assert "PYTHONPATH" not in env
    assert env["PATH"].startswith(str(tmp_path / "venv" / "bin"))
    assert env["PYTEST_FINETUNE_CACHE"] == str(tmp_path / "finetune-cache")


@pytest.mark.slow
def test_progress_names_the_step_and_keeps_the_output_in_the_log(tmp_path):
    import io
    import sys

    stream = io.StringIO()
    log = tmp_path / "step.log"
    code = "import time; print('collecting', flush=True); time.sleep(1.5); print('3 passed')"
    status = Progress(stream, interval=0.5).run("[new] guard suite", [sys.executable, "-c", code], log)
    assert status == 0
    lines = stream.getvalue().splitlines()
    assert "[new] guard suite (log: " in lines[0]
    assert any("[new] guard suite: 1s  collecting" in line for line in lines[1:-1])
    assert "] [new] guard suite: done in " in lines[-1]
    assert "3 passed" in log.read_text() and "3 passed" not in stream.getvalue()


def test_source_digest_changes_when_the_guard_code_does(tmp_path, monkeypatch):
    (tmp_path / "pytest_finetune" / "guard").mkdir(parents=True)
    check = tmp_path / "pytest_finetune" / "guard" / "test_parity.py"
    check.write_text("def test_x(): pass\n")
    monkeypatch.setattr(envs, "_source_tree", lambda: tmp_path)
    before = envs.source_digest()
    assert before == envs.source_digest()
    check.write_text("def test_x(): assert False\n")
    assert envs.source_digest() != before
    monkeypatch.setattr(envs, "_source_tree", lambda: None)  # installed from a wheel: nothing to watch
    assert envs.source_digest() is None


def test_source_digest_covers_code_not_results_a_test_run_leaves(tmp_path, monkeypatch):
    """Another session in the same checkout writes and removes obtained results in the
    packaged baselines folder; the guard code the two sides run did not change."""
    defaults = tmp_path / "pytest_finetune" / "baselines" / "defaults"
    defaults.mkdir(parents=True)
    (defaults / "mrpc-m-loop-tiny-cpu-fp32.json").write_text("{}")
    monkeypatch.setattr(envs, "_source_tree", lambda: tmp_path)
    before = envs.source_digest()
    (defaults / "mrpc-m-loop-tiny-cpu-fp32.obtained.json").write_text('{"new": 1}')
    (defaults / ".mrpc-m-loop-tiny-cpu-fp32.json.a1b2c3d4.tmp").write_text("half")
    (defaults / ".mrpc-m-loop-tiny-cpu-fp32.json.a1b2c3d4.json").write_text("hidden")
    assert envs.source_digest() == before
    (defaults / "mrpc-m-loop-tiny-cpu-fp32.json").write_text('{"changed": 1}')
    assert envs.source_digest() != before


def test_environments_with_the_same_data_libraries_share_their_data_cache(tmp_path):
    """Tokenization is reused where datasets, tokenizers and transformers are the same releases
    (a step that moves torch or accelerate), never across transformers releases."""
    from pytest_finetune.upgrade.envs import Env
    from pytest_finetune.upgrade.specs import Side

    def env(name, **versions):
        base = {"datasets": "5.2.0", "tokenizers": "0.23.3", "transformers": "5.24.0", "torch": "2.13.0"}
        return Env(Side(name, ()), tmp_path / "envs" / name, {**base, **versions}, False, 0.0, "uv")

    a, b, c = env("a"), env("b", torch="2.14.1", accelerate="1.16.0"), env("c", transformers="5.25.0")
    assert a.data_cache() == b.data_cache() and a.data_cache().parent == tmp_path / "envs" / "data-caches"
    assert c.data_cache() != a.data_cache()
    assert env("d", transformers="").data_cache() == tmp_path / "envs" / "d" / "finetune-cache"
    assert a.subprocess_env()["PYTEST_FINETUNE_CACHE"] == str(a.data_cache())


def test_both_sides_run_together_only_with_the_cores_each_taking_half(monkeypatch, tmp_path):
    from pytest_finetune.upgrade import command
    from pytest_finetune.upgrade.envs import Env
    from pytest_finetune.upgrade.specs import Side

    envs = [Env(Side(side, ()), tmp_path / side, {}, False, 0.0, "uv") for side in ("old", "new")]
    monkeypatch.setattr(command.os, "cpu_count", lambda: 2)
    assert command.sides_together(envs) is False and envs[0].threads is None
    monkeypatch.setattr(command.os, "cpu_count", lambda: 16)
    assert command.sides_together(envs) is True and [e.threads for e in envs] == [8, 8]
    assert envs[0].subprocess_env()["OMP_NUM_THREADS"] == "8"
