"""A step of ``upgrade`` (``upgrade.progress.Progress.run``) ends with everything it started:
a SIGTERM (CI's timeout, ``kill``) stops the installer and the processes it spawned, instead
of leaving them writing into an environment folder whose lock is gone."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# A stand-in for `upgrade`: one step whose command (an "installer") starts a child of its own
# that outlives it unless stopped, as pip's and uv's build processes do.
UPGRADE = """
import sys
from pathlib import Path
from pytest_finetune.upgrade.progress import Progress

tmp = Path(sys.argv[1])
installer = (
    "import os, subprocess, sys, time; "
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
    "open(sys.argv[1], 'w').write(f'{os.getpid()} {child.pid}'); time.sleep(120)")
try:
    Progress(interval=999).run("installing", [sys.executable, "-c", installer, str(tmp / "pids")], tmp / "build.log")
except KeyboardInterrupt as exc:
    print(f"interrupted: {exc}", flush=True)
    sys.exit(130)
"""


def _alive(pid: int) -> bool:
    """Running, not merely a zombie waiting to be reaped (by an init that may never do it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigterm_stops_the_step_and_every_process_it_started(tmp_path):
    upgrade = subprocess.Popen([sys.executable, "-c", UPGRADE, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    pids: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "pids").is_file() or len((tmp_path / "pids").read_text().split()) < 2:
            assert time.monotonic() < deadline and upgrade.poll() is None, "the step never started"
            time.sleep(0.1)
        pids = [int(pid) for pid in (tmp_path / "pids").read_text().split()]
        upgrade.send_signal(signal.SIGTERM)
        out, _ = upgrade.communicate(timeout=30)
        assert upgrade.returncode == 130 and "interrupted: terminated (SIGTERM)" in out
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in pids if _alive(pid)], "the installer or its child outlived upgrade"
        assert "stopped: Terminated terminated (SIGTERM); every process of this step was ended" \
            in (tmp_path / "build.log").read_text()
    finally:
        upgrade.kill()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.mark.slow
def test_jobs_run_together_each_with_its_log_and_status(tmp_path):
    """Both sides of an upgrade at once, on a machine with the cores: two processes, one heartbeat."""
    from io import StringIO

    from pytest_finetune.upgrade.progress import Job, Progress

    stream = StringIO()
    jobs = [Job("[old] quick", [sys.executable, "-c", "import time; time.sleep(0.5); print('old done')"],
                tmp_path / "old.log"),
            Job("[new] fails", [sys.executable, "-c", "import sys; print('new ran'); sys.exit(3)"], tmp_path / "new.log")]
    started = time.monotonic()
    assert Progress(stream, interval=0.1).run_all(jobs) == [0, 3]
    assert time.monotonic() - started < 5
    assert "old done" in (tmp_path / "old.log").read_text() and "new ran" in (tmp_path / "new.log").read_text()
    said = stream.getvalue()
    assert "[old] quick: done in" in said and "[new] fails: exit 3 in" in said
