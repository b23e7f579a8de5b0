"""The CI recipe users copy (docs/ci.md) stays true to the files and to the plugin.

docs/ci.md shows docs/github-workflow.yml and docs/actionlint.yaml verbatim: CI lints the real
files with actionlint (.ci/run), and a reader copies from the page, so the two must not drift.
The workflow and the page may name only options, environment variables and markers the plugin
has, or a user's copy fails on its first run.
"""
from __future__ import annotations

import difflib
import re
import shlex
from pathlib import Path

import pytest

from pytest_finetune.config.options import OPTIONS
from pytest_finetune.plugin.hooks import MARKERS

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGE = DOCS / "ci.md"
SHOWN_FILES = ("github-workflow.yml", "actionlint.yaml")


def _yaml_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```yaml\n(.*?)^```$", markdown, flags=re.S | re.M)


def _drift(name: str, markdown: str) -> str | None:
    """None when the page shows the file verbatim, else a diff against the closest block."""
    text = (DOCS / name).read_text(encoding="utf-8")
    blocks = _yaml_blocks(markdown)
    if text in blocks:
        return None
    closest = max(blocks, key=lambda b: difflib.SequenceMatcher(None, b, text).ratio(), default="")
    diff = difflib.unified_diff(text.splitlines(), closest.splitlines(), f"docs/{name}", "docs/ci.md", lineterm="")
    return f"docs/ci.md does not show docs/{name} verbatim; paste the file into its yaml block:\n" + "\n".join(diff)


@pytest.mark.parametrize("name", SHOWN_FILES)
def test_page_shows_the_file_verbatim(name):
    problem = _drift(name, PAGE.read_text(encoding="utf-8"))
    assert problem is None, problem


def test_drift_check_catches_an_edited_copy():
    page = PAGE.read_text(encoding="utf-8")
    edited = page.replace("timeout-minutes: 30", "timeout-minutes: 31", 1)
    assert edited != page
    problem = _drift("github-workflow.yml", edited)
    assert problem is not None and "+    timeout-minutes: 31" in problem


def _recipe_text() -> str:
    return "\n".join((DOCS / name).read_text(encoding="utf-8") for name in ("github-workflow.yml", "ci.md"))


def test_recipe_names_only_options_the_plugin_has():
    flags = set(re.findall(r"--finetune-[a-z-]+", _recipe_text()))
    envs = set(re.findall(r"\bPYTEST_FINETUNE_[A-Z_]+\b", _recipe_text()))
    assert {"--finetune-report", "--finetune-update-baselines", "--finetune-seeds"} <= flags
    assert flags <= {option.cli for option in OPTIONS}, "unknown option in docs/ci.md or the workflow"
    assert envs <= {option.env for option in OPTIONS if option.env}, "unknown environment variable"


def test_recipe_selects_only_markers_the_plugin_registers():
    expressions = []
    for line in (DOCS / "github-workflow.yml").read_text(encoding="utf-8").splitlines():
        if "python -m pytest" in line:
            words = shlex.split(line.split("python -m pytest", 1)[1].rstrip("\\"))
            expressions += [words[i + 1] for i, word in enumerate(words[:-1]) if word == "-m"]
    assert expressions == ["not full and not gpu", "gpu", "gpu"]
    names = {word for expr in expressions for word in expr.split()} - {"and", "or", "not"}
    assert names <= set(MARKERS)
