"""Faults during a run and determinism: NaN stops at once, reruns are bit-identical."""
import pytest

from pytest_finetune.errors import NonFiniteLossError
from pytest_finetune.runs import execute_run, profile_config

pytest_plugins = ["pytester"]


def fast_config(finetune_settings, runner, **overrides):
    require = __import__("pytest_finetune.plugin.availability", fromlist=["require_data"]).require_data
    return profile_config("tiny", runner=runner, model="tiny-random-bert", data=require(finetune_settings.data, finetune_settings.ci_require_data),
                          device="cpu", train_limit=32, epochs=2, **overrides)


@pytest.mark.parametrize("runner", ["trainer", "loop"])
def test_two_runs_of_one_config_are_bit_identical(finetune_settings, runner):
    config = fast_config(finetune_settings, runner)
    first, second = execute_run(config), execute_run(config)
    assert first.losses == second.losses  # exact float equality, step by step
    assert (first.accuracy, first.f1, first.eval_history) == (second.accuracy, second.f1, second.eval_history)


@pytest.mark.parametrize("runner", ["trainer", "loop"])
def test_nan_loss_stops_the_run_with_step_lr_and_lengths(finetune_settings, monkeypatch, runner):
    import pytest_finetune.mrpc.modeling as setup

    real_load = setup.load_model

    def load_with_nan_at_third_forward(*args, **kwargs):
        model = real_load(*args, **kwargs)
        calls = {"n": 0}

        def poison(module, inputs, output):
            calls["n"] += 1
            return output * float("nan") if calls["n"] == 3 else output

        model.classifier.register_forward_hook(poison)
        return model

    monkeypatch.setattr(setup, "load_model", load_with_nan_at_third_forward)
    with pytest.raises(NonFiniteLossError, match=rf"{runner} run stopped: loss is nan at step 3 "
                                                 r"\(lr [0-9.e-]+, batch lengths \[\d+(, \d+)*\]\)"):
        execute_run(fast_config(finetune_settings, runner))


FAILING_RUN = """
import pytest_finetune.mrpc.modeling as setup

REAL = setup.load_model

def pytest_unconfigure(config):
    setup.load_model = REAL  # inline pytester runs share modules with the outer session

def pytest_configure(config):
    real = setup.load_model
    def broken(*args, **kwargs):
        model = real(*args, **kwargs)
        model.classifier.register_forward_hook(lambda m, i, o: o * float("nan"))
        setup.LOADS += 1
        return model
    setup.LOADS = 0
    setup.load_model = broken
"""


@pytest.mark.slow
def test_failed_run_is_not_cached_as_success_nor_retrained(pytester, monkeypatch):
    monkeypatch.setenv("CI", "")
    pytester.makeconftest(FAILING_RUN)
    pytester.makepyfile("""
        import pytest_finetune.mrpc.modeling as setup

        def test_a(finetune_run):
            finetune_run(runner="loop", profile="tiny", model="tiny-random-bert")

        def test_b(finetune_run):
            finetune_run(runner="loop", profile="tiny", model="tiny-random-bert")

        def test_trained_once():
            assert setup.LOADS == 1
    """)
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(failed=2, passed=1)
    result.stdout.fnmatch_lines(["*run loop/tiny failed: loop run stopped: loss is nan at step 1*"])


RANDOM_ORDER_PROJECT = """
import json, os
import pytest

SMALL = dict(profile="tiny", model="tiny-random-bert", epochs=1, train_limit=16, eval_limit=16)

@pytest.mark.parametrize("runner", ["trainer", "loop"])
def test_run(finetune_run, runner):
    result = finetune_run(runner=runner, **SMALL)
    with open(f"losses-{runner}.json", "w") as handle:
        json.dump(result.losses, handle)

def test_same_run_again(finetune_run):
    assert finetune_run(runner="loop", **SMALL) is finetune_run(runner="loop", **SMALL)

def test_collator_shapes(tokenizer, data_collator):
    batch = data_collator([tokenizer("a b c", "d"), tokenizer("a", "b")])
    assert tuple(batch["input_ids"].shape) == (2, 7)

def test_split_sizes(mrpc_raw):
    assert (len(mrpc_raw["train"]), len(mrpc_raw["validation"])) == (3668, 408)
"""


@pytest.mark.slow
def test_random_test_order_gives_the_same_runs(pytester, monkeypatch):
    """pytest-randomly reorders tests and reseeds ``random`` before each: results must not move."""
    pytest.importorskip("pytest_randomly")
    monkeypatch.setenv("CI", "")
    monkeypatch.setenv("PYTEST_FINETUNE_DEVICE", "cpu")
    pytester.makepyfile(test_order=RANDOM_ORDER_PROJECT)
    losses, orders = [], []
    for args in (["-p", "no:randomly"], ["-p", "randomly", "-p", "no:cacheprovider", "--randomly-seed=1"],
                 ["-p", "randomly", "-p", "no:cacheprovider", "--randomly-seed=2"]):
        result = pytester.runpytest("-v", *args)
        result.assert_outcomes(passed=5)
        orders.append([line.split(" ")[0] for line in result.outlines if " PASSED" in line])
        losses.append({r: (pytester.path / f"losses-{r}.json").read_text() for r in ("trainer", "loop")})
    assert len({tuple(order) for order in orders}) > 1, f"the seeds did not reorder the tests: {orders}"
    assert losses[0] == losses[1] == losses[2]
