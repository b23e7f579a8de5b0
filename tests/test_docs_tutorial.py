"""docs/your-pipeline.md is true: its code, written out as the files it names, records
baselines and passes on a rerun in a fresh project folder.

The files are taken from the tutorial as written (each block after a
``<!-- file: NAME -->`` marker); the data are synthetic tickets (``synthetic_texts``). The
commands add ``--finetune-model tiny-random-bert`` so that the runs take seconds; the
tutorial's default model is the embedded MiniLM, which ``benchmarks/README.md`` measures.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from synthetic_texts import write_ticket_files

pytestmark = pytest.mark.slow
TUTORIAL = Path(__file__).resolve().parent.parent / "docs" / "your-pipeline.md"
FILE_BLOCK = re.compile(r"<!-- file: (?P<name>[\w./-]+) -->\n```python\n(?P<code>.*?)```", re.DOTALL)


def tutorial_files() -> dict[str, str]:
    return {m["name"]: m["code"] for m in FILE_BLOCK.finditer(TUTORIAL.read_text(encoding="utf-8"))}


def test_the_tutorial_names_its_three_files_and_its_training_code_is_the_tests():
    files = tutorial_files()
    assert sorted(files) == ["conftest.py", "test_finetuning.py", "training.py"]
    # tests/user_training.py is that code as a module the other tests and the benchmark import
    assert files["training.py"] == (Path(__file__).parent / "user_training.py").read_text(encoding="utf-8")


def test_the_tutorials_code_records_baselines_and_passes_on_a_rerun(pytester, monkeypatch):
    monkeypatch.setenv("CI", "")
    monkeypatch.delenv("PYTEST_FINETUNE_MRPC_DIR", raising=False)
    for name, code in tutorial_files().items():
        (pytester.path / name).write_text(code, encoding="utf-8")
    write_ticket_files(pytester.path / "data")
    pytester.syspathinsert()
    flags = ("-p", "no:randomly", "-p", "no:cacheprovider", "--finetune-model", "tiny-random-bert")
    recorded = pytester.runpytest_subprocess(*flags, "--finetune-update-baselines")
    recorded.assert_outcomes(passed=3)
    assert sorted(p.name for p in (pytester.path / "baselines").iterdir()) == [
        "tickets-tiny-random-bert-fingerprints.json", "tickets-tiny-random-bert-my-loop-tiny-cpu-fp32.json",
        "tickets-tiny-random-bert-weighted-tiny-cpu-fp32.json"]
    rerun = pytester.runpytest_subprocess(*flags)
    rerun.assert_outcomes(passed=3)
    rerun.stdout.fnmatch_lines(["tickets-tiny-random-bert-weighted-tiny-cpu-fp32 * loss curve (paired, seed 42): "
                                "max |delta| / noise * 0.0000 * ok*"])
