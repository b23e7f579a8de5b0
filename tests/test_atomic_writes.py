"""Baseline writes are all-or-nothing: an interrupt or a kill leaves the old file or the new."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from pytest_finetune._io import atomic_write_text


def test_interrupt_during_write_keeps_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "b.json"
    target.write_text('{"old": true}')

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(target, '{"new": true}')
    assert json.loads(target.read_text()) == {"old": True}
    assert os.listdir(tmp_path) == ["b.json"]


WRITER = """
import importlib.util, json, sys
from pathlib import Path
# fileio loaded by path: importing the package would load torch in every child
spec = importlib.util.spec_from_file_location("fileio", sys.argv[2])
fileio = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fileio)
atomic_write_text = fileio.atomic_write_text
target = Path(sys.argv[1])
i = 0
while True:
    i += 1
    atomic_write_text(target, json.dumps({"generation": i, "payload": ["x" * 100] * 5000}))
    print(i, flush=True)
"""


@pytest.mark.slow
def test_killing_a_writer_midway_never_leaves_a_partial_file(tmp_path):
    target = tmp_path / "b.json"
    import pytest_finetune._io as fileio

    for attempt in range(5):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target), fileio.__file__],
                                stdout=subprocess.PIPE)
        proc.stdout.readline()  # at least one full write happened
        time.sleep(0.05 * (attempt + 1))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        data = json.loads(target.read_text())  # raises if half-written
        assert len(data["payload"]) == 5000
