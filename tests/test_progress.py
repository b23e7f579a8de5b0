"""Progress: both runners report through one callback, print nothing themselves, and the
libraries' own chatter is hidden for a run and restored after it; pytest users see the lines."""
from __future__ import annotations

import logging

import pytest
from datasets import Dataset

from pytest_finetune.mrpc.modeling import load_model, load_tokenizer
from pytest_finetune.mrpc.preprocessing import make_collator
from pytest_finetune.runs import profile_config
from pytest_finetune.runs.progress import END, EPOCH, START, STEP, ProgressEvent, RunProgress, quiet_libraries
from test_hardening_model import one_thread, tokenized, wordpiece_folder  # noqa: F401 (fixture)


def test_event_lines_name_run_steps_time_loss_and_metrics():
    common = dict(runner="loop", profile="tiny", seed=42, total_steps=20, epochs=5)
    assert ProgressEvent(START, step=0, epoch=0, elapsed_s=0.0, **common).line() == \
        "loop/tiny seed 42: started, 20 steps in 5 epoch(s)"
    assert ProgressEvent(EPOCH, step=4, epoch=1, elapsed_s=3.25, loss=0.69312, accuracy=0.6875, f1=0.8,
                         **common).line() == \
        "loop/tiny seed 42: epoch 1/5, step 4/20, 3.2s, loss 0.6931, acc 0.6875 f1 0.8000"
    assert ProgressEvent(END, step=20, epoch=5, elapsed_s=12.0, loss=0.25, accuracy=0.75, f1=0.8,
                         **common).line().startswith("loop/tiny seed 42: done, step 20/20, 12.0s, loss 0.2500")


def test_run_progress_counts_steps_and_epochs():
    events: list[ProgressEvent] = []
    tracker = RunProgress(profile_config("tiny", runner="trainer"), 4, events.append)
    tracker.start()
    for loss in (0.7, 0.6):
        tracker.step(loss)
    tracker.epoch({"accuracy": 0.5, "f1": 0.6})
    tracker.end()
    assert [e.kind for e in events] == [START, STEP, STEP, EPOCH, END]
    assert (events[-1].step, events[-1].epoch, events[-1].loss, events[-1].f1) == (2, 1, 0.6, 0.6)
    RunProgress(profile_config("tiny"), 4).step(0.5)  # no callback: nothing to call, no error


def test_quiet_libraries_restores_settings_even_after_an_error():
    import datasets
    from transformers.utils import logging as tf_logging

    tf_logging.set_verbosity(logging.INFO)
    try:
        with pytest.raises(RuntimeError):
            with quiet_libraries():
                assert tf_logging.get_verbosity() == logging.ERROR
                assert not tf_logging.is_progress_bar_enabled() and not datasets.is_progress_bar_enabled()
                raise RuntimeError("boom")
        assert tf_logging.get_verbosity() == logging.INFO
        assert tf_logging.is_progress_bar_enabled() and datasets.is_progress_bar_enabled()
        with quiet_libraries(verbose=True):
            assert tf_logging.get_verbosity() == logging.INFO
    finally:
        tf_logging.set_verbosity_warning()


@pytest.mark.parametrize("runner", ["trainer", "loop"])
def test_runners_report_each_step_and_epoch_and_print_nothing(runner, tmp_path, capsys, one_thread):  # noqa: F811
    from pytest_finetune.runs.prepare import Prepared
    from pytest_finetune.runs.runners import Registry

    folder = str(wordpiece_folder(tmp_path / "model"))
    tokenizer = load_tokenizer(folder)
    data = Dataset.from_list([dict(row, labels=i % 2) for i, row in enumerate(tokenized(tokenizer) * 4)])
    config = profile_config("tiny", runner=runner, model=folder, device="cpu", epochs=2, batch_size=4)
    prepared = Prepared(config, "cpu", tokenizer, load_model(folder), data, data, make_collator(tokenizer))
    events: list[ProgressEvent] = []
    capsys.readouterr()  # what building the model folder printed
    out = Registry().runner(runner).train(prepared, RunProgress(config, prepared.optimizer_steps, events.append))
    steps = [e for e in events if e.kind == STEP]
    assert [e.loss for e in steps] == pytest.approx(out.losses, rel=1e-6)
    assert len(steps) == prepared.optimizer_steps == 6
    epochs = [e for e in events if e.kind == EPOCH]
    assert [(e.epoch, e.step, e.accuracy, e.f1) for e in epochs] == \
        [(round(h["epoch"]), 3 * round(h["epoch"]), h["accuracy"], h["f1"]) for h in out.history]
    printed = capsys.readouterr()
    assert "{'loss'" not in printed.out + printed.err  # no dict per logged step (Trainer's PrinterCallback)
    assert "it/s]" not in printed.err  # no tqdm bar of the runner's own


PROJECT_TEST = """
def test_trains(finetune_run):
    result = finetune_run(runner="loop", profile="tiny", train_limit=8, eval_limit=8, epochs=2)
    assert len(result.losses) == 2
"""


@pytest.mark.slow
def test_pytest_user_sees_start_epoch_and_end_lines_without_s(pytester):
    pytester.makepyfile(PROJECT_TEST)
    result = pytester.runpytest("--finetune-device", "cpu")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "finetune: loop/tiny seed 42: started, 2 steps in 2 epoch(s)",
        "finetune: loop/tiny seed 42: epoch 1/2, step 1/2, *s, loss *, acc * f1 *",
        "finetune: loop/tiny seed 42: epoch 2/2, step 2/2, *",
        "finetune: loop/tiny seed 42: done, step 2/2, *s, loss *, acc * f1 *",
    ])
    result.stdout.no_fnmatch_line("*LOAD REPORT*")  # transformers' load report: only with -v


@pytest.mark.slow
def test_under_xdist_the_controller_prints_each_runs_end_line(pytester):
    pytest.importorskip("xdist")
    pytester.makepyfile(PROJECT_TEST)
    result = pytester.runpytest("--finetune-device", "cpu", "-n", "1")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["finetune: loop/tiny seed 42: done, step 2/2, *, acc * f1 * [[]gw0[]]"])
    result.stdout.no_fnmatch_line("*started*")  # workers write nothing live
