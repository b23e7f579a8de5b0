"""Where stored values are read and written: the user's folder first, the packaged defaults
second, and every write into the user's folder only (in a user's install the packaged
defaults sit in site-packages)."""
import hashlib
import json
import shutil

from pytest_finetune.baselines.check import COMPARE, UPDATE_ALL, check_fingerprint, check_run
from pytest_finetune.baselines.store import PACKAGED_BASELINES, find_baseline, stored_file
from pytest_finetune.runs import RunResult, profile_config

FINGERPRINTS = "mrpc-all-MiniLM-L6-v2-fingerprints.json"
LOOP_TINY = "mrpc-all-MiniLM-L6-v2-loop-tiny-cpu-fp32.json"


def _packaged_digest() -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(PACKAGED_BASELINES.iterdir())}


def _collapsed_tiny_loop_result() -> RunResult:
    """A tiny loop run of the embedded model that scored 0: far below the packaged band."""
    config = profile_config("tiny", runner="loop", model=None, data="hub", device="cpu")
    return RunResult(config=config, device="cpu", losses=[0.69] * 20, learning_rates=[2e-4] * 20,
                     eval_history=[{"epoch": float(e), "accuracy": 0.0, "f1": 0.0, "eval_loss": 0.7}
                                   for e in range(1, 6)],
                     accuracy=0.0, f1=0.0, prediction_counts=[32, 0], param_delta=0.01, train_examples=32,
                     wall_time_s=1.0, train_time_s=1.0, examples_per_s=160.0,
                     versions={"transformers": "test"}, hardware={})


def test_user_folder_first_packaged_defaults_second(tmp_path):
    assert stored_file(tmp_path, LOOP_TINY) == PACKAGED_BASELINES / LOOP_TINY
    assert stored_file(tmp_path, "mrpc-someone-else.json") is None
    shutil.copy(PACKAGED_BASELINES / LOOP_TINY, tmp_path / LOOP_TINY)
    assert stored_file(tmp_path, LOOP_TINY) == tmp_path / LOOP_TINY
    scenario = json.loads((tmp_path / LOOP_TINY).read_text())["scenario"]
    assert find_baseline(tmp_path, scenario) == (tmp_path / LOOP_TINY, None)
    assert find_baseline(tmp_path / "empty", scenario) == (PACKAGED_BASELINES / LOOP_TINY, None)


def test_a_user_fingerprint_file_overrides_the_packaged_one(tmp_path):
    stored = json.loads((PACKAGED_BASELINES / FINGERPRINTS).read_text())["initial_logits"]
    assert check_fingerprint(tmp_path, "all-MiniLM-L6-v2", "initial_logits", stored, COMPARE).status == "passed"
    (tmp_path / FINGERPRINTS).write_text(json.dumps({"format_version": 1, "initial_logits": [[0.0, 0.0]]}))
    outcome = check_fingerprint(tmp_path, "all-MiniLM-L6-v2", "initial_logits", stored, COMPARE)
    assert outcome.status == "failed" and outcome.compared_with == tmp_path / FINGERPRINTS


def test_fingerprint_update_writes_the_user_folder_and_keeps_the_other_values(tmp_path):
    before = _packaged_digest()
    packaged = json.loads((PACKAGED_BASELINES / FINGERPRINTS).read_text())
    user = tmp_path / "my-baselines"
    outcome = check_fingerprint(user, "all-MiniLM-L6-v2", "initial_logits", [[1.0, 2.0]], UPDATE_ALL)
    assert outcome.status == "written"
    written = json.loads((user / FINGERPRINTS).read_text())
    assert written["initial_logits"] == [[1.0, 2.0]]
    assert written["tokenized_validation"] == packaged["tokenized_validation"]  # seeded from the packaged file
    assert _packaged_digest() == before


def test_a_failure_against_a_packaged_baseline_writes_obtained_to_the_user_folder(tmp_path):
    before = _packaged_digest()
    outcome = check_run(_collapsed_tiny_loop_result(), tmp_path, k=3.0, mode=COMPARE)
    assert outcome.status == "failed" and outcome.compared_with == PACKAGED_BASELINES / LOOP_TINY
    obtained = tmp_path / LOOP_TINY.replace(".json", ".obtained.json")
    assert obtained.is_file() and json.loads(obtained.read_text())["metrics"]["accuracy"]["mean"] == 0.0
    assert "a packaged default" in outcome.message and f"mv {obtained} {tmp_path / LOOP_TINY}" in outcome.message
    assert _packaged_digest() == before


def test_update_writes_the_user_folder_only(tmp_path):
    before = _packaged_digest()
    outcome = check_run(_collapsed_tiny_loop_result(), tmp_path, k=3.0, mode=UPDATE_ALL)
    assert outcome.status == "written"
    assert outcome.written["change"]["accuracy"] == [0.65625, 0.0]  # old value: the packaged one
    assert json.loads((tmp_path / LOOP_TINY).read_text())["metrics"]["accuracy"]["mean"] == 0.0
    assert _packaged_digest() == before


def test_a_failure_against_the_package_itself_keeps_obtained_out_of_the_package(tmp_path, monkeypatch):
    """This repo's ini points its baselines folder at the packaged defaults: a failing run's
    result goes to the user's temp folder, never into the package (or its source digest)."""
    import os

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    before = _packaged_digest()
    outcome = check_run(_collapsed_tiny_loop_result(), PACKAGED_BASELINES, k=3.0, mode=COMPARE)
    obtained = tmp_path / f"pytest-finetune-obtained-{os.getuid()}" / LOOP_TINY.replace(".json", ".obtained.json")
    assert outcome.status == "failed" and obtained.is_file()
    assert f"mv {obtained} {PACKAGED_BASELINES / LOOP_TINY}" in outcome.message
    assert _packaged_digest() == before


def test_an_obtained_result_that_cannot_be_written_leaves_the_verdict_first(tmp_path):
    (tmp_path / LOOP_TINY.replace(".json", ".obtained.json")).mkdir()  # a write there fails
    outcome = check_run(_collapsed_tiny_loop_result(), tmp_path, k=3.0, mode=COMPARE)
    assert outcome.status == "failed" and outcome.message.startswith("mrpc-all-MiniLM-L6-v2-loop-tiny-cpu-fp32")
    assert "\n  the new result could not be kept: " in outcome.message and "cannot write" in outcome.message
