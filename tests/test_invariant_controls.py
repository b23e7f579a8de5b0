"""Each invariant family catches the bug it exists for: a positive control per family.

A deliberately broken variant (a test hook of ``runs.perturb``, off unless asked) must fail
its family's invariant, at the right step, for the reason the failure names. Each runs on a
runner and task where the clean invariant holds (``test_invariant_families.py``); the
distributed control is in ``test_distributed.py``.
"""
from __future__ import annotations

import pytest

MRPC = dict(model="tiny-random-bert", epochs=3)
LM = dict(task="mrpc-lm", epochs=3)

CONTROLS = [
    # family, runner, settings, hook, what the failure must say
    ("accumulation", "loop", MRPC, "accum_unscaled",
     r"loss 2\.00x the reference from step 1 .*\n  likely cause: accumulation normalization"),
    ("accumulation", "trainer", LM, "accum_unscaled",
     r"loss 2\.00x the reference from step 1 .*\n  likely cause: accumulation normalization"),
    ("eval_batch", "loop", MRPC, "eval_no_mask",
     r"eval loss \S+ the reference from epoch 1 .*\n  likely cause: the evaluation depends on how the eval split is "
     r"batched: padding reaches the outputs"),
    ("checkpointing", "trainer", MRPC, "checkpoint_no_rng",
     r"loss \S+ the reference from step 2 .*\n  likely cause: the recomputation in backward differs from the forward: "
     r"the RNG state is not preserved"),
    # (A causal LM would not do: with right padding its causal mask already hides the pads from
    # every real token, so dropping the padding mask changes nothing there, rightly.)
    ("attention", "loop", MRPC, "sdpa_no_mask",
     r"the variant \(sdpa attention\) is off: .*\n  likely cause: the sdpa and eager attention compute different "
     r"outputs: one applies the padding mask differently"),
    ("resume", "loop", LM, "resume_drop_rng",
     r"loss \S+ the reference from step 7 .*\n  likely cause: the first resumed step \(7\) already differs"),
    ("resume", "trainer", MRPC, "resume_drop_rng",
     r"loss \S+ the reference from step 7 .*\n  likely cause: the first resumed step \(7\) already differs"),
]


@pytest.mark.slow
@pytest.mark.parametrize("family, runner, settings, hook, expected", CONTROLS,
                         ids=[f"{c[0]}-{c[1]}-{c[2].get('task', 'mrpc')}-{c[3]}" for c in CONTROLS])
def test_a_broken_variant_fails_its_invariant_for_the_right_reason(finetune_invariant, family, runner, settings,
                                                                    hook, expected):
    with pytest.raises(pytest.fail.Exception, match=expected) as failed:
        finetune_invariant(family, runner=runner, perturb=((hook, 1),), **settings)
    assert f"{family} invariant broken (runner {runner}" in str(failed.value)
