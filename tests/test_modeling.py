"""Model folders read before transformers sees them (``mrpc.modeling``): a broken
``config.json`` is one line naming it."""
import shutil

import pytest

from pytest_finetune.errors import ModelError
from pytest_finetune.mrpc.modeling import load_tokenizer
from pytest_finetune.mrpc.sources import default_model_path


def test_a_config_nested_too_deeply_to_read_is_one_line(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(default_model_path(), folder, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    (folder / "model.safetensors").write_bytes(b"")
    (folder / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ModelError, match=r"config\.json: unreadable config\.json \(RecursionError: "):
        load_tokenizer(str(folder))
