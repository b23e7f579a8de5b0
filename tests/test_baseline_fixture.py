"""The ``finetune_baseline`` fixture's handle (``plugin.baseline_fixtures.BaselineChecker``):
a wrong argument or a lock folder in the way is one ``Failed:`` line, not a library traceback."""
from types import SimpleNamespace

import pytest

from pytest_finetune.config.settings import FinetuneSettings
from pytest_finetune.plugin.baseline_fixtures import BaselineChecker


@pytest.fixture
def checker(tmp_path):
    request = SimpleNamespace(node=SimpleNamespace(user_properties=[], nodeid="test_x.py::test_x"),
                              config=SimpleNamespace(stash={}))
    return BaselineChecker(request, FinetuneSettings.from_sources({"baselines": str(tmp_path)}, {}, tmp_path,
                                                                  environ={}))


@pytest.mark.parametrize("given, shown", [("x", "str 'x'"), ({"accuracy": 0.8}, "dict {'accuracy': 0.8}"),
                                          (None, "NoneType None")])
def test_check_of_something_that_is_not_a_run_result_is_one_failed_line(checker, given, shown):
    with pytest.raises(pytest.fail.Exception) as info:
        checker.check(given)
    assert str(info.value) == ("finetune_baseline.check: expected the RunResult that finetune_run(...) "
                               f"returns, got {shown}")


def test_a_lock_folder_in_the_way_fails_the_check_with_its_line(checker, tmp_path, monkeypatch):
    import os

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    (tmp_path / f"pytest-finetune-locks-{os.getuid()}").write_text("squatted")
    checker.mode = "update-all"
    with pytest.raises(pytest.fail.Exception, match=r"^locks folder .*: something that is not a folder"):
        checker.check_fingerprint("all-MiniLM-L6-v2", "tokenized_validation", "0123")
