"""pytest_finetune.compat: the one home of version differences, right on the installed release.

This file runs on both sides of CI (newest pins and ``.ci/oldest-pins.txt``), so each test
here checks the installed transformers, whichever it is.
"""
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from pytest_finetune.compat import installed_version, length_grouping_arguments

ROOT = Path(__file__).parent.parent


def test_installed_version_reads_metadata_without_importing():
    assert installed_version("pytest") == pytest.__version__
    assert installed_version("no-such-distribution-pytest-finetune") is None


@pytest.mark.slow
def test_compat_imports_no_ml_library():
    code = ("import sys, pytest_finetune.compat as c; c.KNOWN_ISSUES[0].applies(); "
            "print(sorted(m for m in ('torch', 'transformers', 'datasets', 'accelerate') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _padding_share(trainer) -> float:
    run = real = 0
    for batch in trainer.get_train_dataloader():
        run += batch["input_ids"].numel()
        real += int(batch["attention_mask"].sum())
    return run / real - 1


def test_trainer_takes_the_length_grouping_keywords(mrpc_model_inputs, data_collator, tokenizer, tmp_path):
    """The keywords are accepted by the installed ``TrainingArguments`` and do what they say:
    grouped batches of MRPC pad a few percent, shuffled ones ~30 % (measured at batch 16)."""
    from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

    model = BertForSequenceClassification(BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=8, num_hidden_layers=1, num_attention_heads=1,
        intermediate_size=8))
    shares = {}
    for grouped in (True, False):
        args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=16, use_cpu=True,
                                 report_to="none", seed=42, **length_grouping_arguments(grouped))
        trainer = Trainer(model=model, args=args, train_dataset=mrpc_model_inputs["train"],
                          data_collator=data_collator)
        shares[grouped] = _padding_share(trainer)
    assert shares[True] < 0.05 < 0.2 < shares[False], shares


def _dependencies() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {Requirement(line).name: Requirement(line) for line in project["dependencies"]}


def _oldest_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / ".ci/oldest-pins.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[name.strip()] = version.strip()
    return pins


def test_oldest_ci_pins_are_the_declared_floors():
    """CI's second environment tests what pyproject promises: every pin is allowed, and for
    the libraries the harness drives (accelerate, datasets, evaluate, torch) it is the floor."""
    deps, pins = _dependencies(), _oldest_pins()
    assert {"transformers", "accelerate", "datasets", "evaluate", "torch"} <= set(pins)
    for name, version in pins.items():
        assert deps[name].specifier.contains(version), f"{name}=={version} vs pyproject {deps[name]}"
    for name in ("accelerate", "datasets", "evaluate", "torch"):
        floors = [Version(spec.version) for spec in deps[name].specifier if spec.operator == ">="]
        assert floors == [Version(pins[name])], f"{name}: pyproject floor {floors} but CI's oldest pin is {pins[name]}"
    assert pins["transformers"].startswith("4.")
