"""The power benchmark's test hooks act where they say, by the size they say, and only when asked.

No training here: each hook is applied to the tiny random BERT and a fixed batch
(benchmarks/power.py runs them through both runners).
"""
from __future__ import annotations

import pytest
import torch

from pytest_finetune.errors import ConfigError
from pytest_finetune.mrpc.modeling import load_model, load_tokenizer
from pytest_finetune.mrpc.preprocessing import make_collator
from pytest_finetune.mrpc.sources import TINY_RANDOM_BERT
from pytest_finetune.runs import RunConfig, perturb

PAIRS = [("a short one .", "another short one ."), ("the cat sat .", "a cat was sitting on the mat today .")]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(TINY_RANDOM_BERT)


def _model():
    torch.manual_seed(0)
    return load_model(TINY_RANDOM_BERT, num_labels=2)


def _batch(tokenizer, collator_tokenizer=None):
    rows = [dict(tokenizer(a, b), labels=i % 2) for i, (a, b) in enumerate(PAIRS)]
    return make_collator(collator_tokenizer or tokenizer)(rows)


def _config(*perturbations) -> RunConfig:
    return RunConfig(perturb=tuple(perturbations))


def test_unknown_kind_is_one_clear_config_error():
    with pytest.raises(ConfigError, match="perturb: expected \\(kind, size\\) pairs with kind one of"):
        RunConfig(perturb=(("lr_typo", 1.0),))


def test_clean_config_keeps_its_key_and_stored_form():
    assert "perturb" not in RunConfig().to_dict()
    perturbed = RunConfig(perturb=(("init_ulp", 1),))
    assert perturbed.key() != RunConfig().key()
    assert RunConfig.from_dict(perturbed.to_dict()) == perturbed


def test_init_ulp_moves_every_weight_by_exactly_one_ulp():
    clean, nudged = _model(), _model()
    perturb.model(_config(("init_ulp", 1)), nudged)
    for a, b in zip(clean.parameters(), nudged.parameters()):
        assert torch.equal(torch.nextafter(a, torch.full_like(a, float("inf"))), b)


def test_loss_hooks_change_the_training_loss_only(tokenizer):
    batch = _batch(tokenizer)
    model = _model()
    model.train()
    torch.manual_seed(1)
    clean = float(model(**batch).loss.detach())
    perturb.model(_config(("loss_scale", 0.5)), model)
    torch.manual_seed(1)
    assert float(model(**batch).loss.detach()) == pytest.approx(1.5 * clean, rel=1e-6)
    model.eval()  # evaluation keeps the model's own loss
    with torch.no_grad():
        out = model(**batch)
    assert float(out.loss) == pytest.approx(float(torch.nn.functional.cross_entropy(out.logits, batch["labels"])))


def test_grad_scale_scales_gradients(tokenizer):
    batch = _batch(tokenizer)
    grads = []
    for config in (_config(), _config(("grad_scale", 1.0))):
        model = _model()
        model.eval()  # no dropout: the same forward twice
        perturb.model(config, model)
        model(**batch).loss.backward()
        grads.append(next(p.grad for p in model.parameters() if p.grad is not None))
    assert torch.allclose(grads[1], 2 * grads[0])


def test_optimizer_hook_changes_betas_and_eps_relative_to_the_library_default():
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))])
    perturb.optimizer(_config(("adam_beta1", 0.01), ("adam_eps", 10.0)), optimizer)
    group = optimizer.param_groups[0]
    assert group["betas"] == pytest.approx((0.89, 0.999)) and group["eps"] == pytest.approx(1e-7)


def test_pad_left_pads_on_the_left_without_touching_the_shared_tokenizer(tokenizer):
    left = perturb.collator_tokenizer(_config(("pad_left", 1)), tokenizer)
    batch = _batch(tokenizer, left)
    assert batch["attention_mask"][0, 0] == 0 and batch["attention_mask"][0, -1] == 1
    assert tokenizer.padding_side == "right"


def test_train_split_swaps_and_flips():
    from datasets import Dataset

    data = Dataset.from_dict({"labels": [0, 1, 1, 0], "idx": [0, 1, 2, 3]})
    swapped = perturb.train_split(_config(("swap_pairs", 1)), data)
    assert swapped["idx"] == [1, 0, 2, 3]
    flipped = perturb.train_split(_config(("flip_labels", 2)), data)
    assert flipped["labels"] == [1, 0, 1, 0]


def test_threads_are_restored():
    before = torch.get_num_threads()
    other = 1 if before > 1 else 2
    with perturb.threads(_config(("threads", other))):
        assert torch.get_num_threads() == other
    assert torch.get_num_threads() == before
