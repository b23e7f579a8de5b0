"""Progress while a long step runs: which environment, which suite, how long so far.

Building an environment or running a suite takes minutes with nothing on the screen; the
subprocess's own output goes to a log file (a verdict, not 2,000 lines of installer output,
is what the user wants in the terminal) and a heartbeat shows the step, the elapsed time
and the log's last line. On a terminal the heartbeat rewrites one line; in CI logs it
prints a line every ``interval`` seconds while the log moves, every 4 intervals while not.

A step runs in a process group of its own, and whatever ends the wait (Ctrl-C, a SIGTERM
from CI's timeout or ``kill``, an error) ends the whole group: an installer left running
would go on writing into an environment folder whose lock this process no longer holds,
while the next call rebuilds the same folder.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence, TextIO

STOP_GRACE_S = 5.0  # how long a stopped step may take to exit on SIGTERM before SIGKILL


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived while a step ran: handled as an interrupt (exit 130), after the
    step's whole process group has been stopped."""


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """While the block runs, SIGTERM raises :class:`Terminated` instead of ending Python at
    once (which would skip every cleanup). Signals reach only the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminated(signum: int, frame: object) -> None:
        raise Terminated("terminated (SIGTERM)")

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def stop_group(process: subprocess.Popen) -> None:
    """End ``process`` and every process it started (its group): SIGTERM, then SIGKILL."""
    if not hasattr(os, "killpg"):  # no process groups (Windows): the child alone
        process.kill()
        process.wait()
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_GRACE_S)
    with contextlib.suppress(ProcessLookupError):  # members that outlived the leader, or ignored SIGTERM
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _last_line(path: Path, limit: int = 100) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 4096))
            tail = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip() for line in tail.replace("\r", "\n").splitlines() if line.strip()]
    text = lines[-1] if lines else ""
    return text if len(text) <= limit else text[:limit - 3] + "..."


@dataclass(frozen=True)
class Job:
    """One command a step runs: what to show, what to run, where its output goes."""

    label: str
    command: Sequence[str]
    log: Path
    env: Mapping[str, str] | None = None


class Progress:
    """Prints step lines to ``stream`` (stderr by default, so stdout keeps the verdict)."""

    def __init__(self, stream: TextIO | None = None, interval: float = 15.0) -> None:
        self.stream = stream or sys.stderr
        self.interval = interval
        self.start = time.monotonic()
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def say(self, text: str) -> None:
        print(f"[{self.elapsed():6.1f}s] {text}", file=self.stream, flush=True)

    def run(self, label: str, command: Sequence[str], log: Path, *, env: Mapping[str, str] | None = None) -> int:
        """Run ``command`` with its output appended to ``log``; return its exit status."""
        started = time.monotonic()
        self.say(f"{label} (log: {log})")
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"$ {' '.join(map(str, command))}\n")
            out.flush()
            process = subprocess.Popen(list(map(str, command)), stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, env=dict(env) if env is not None else None,
                                       start_new_session=True)  # its own group: stopped as one
            try:
                with _sigterm_interrupts():
                    status = self._wait(process, label, log, started)
            except BaseException as exc:
                stop_group(process)
                out.write(f"\n[pytest-finetune] stopped: {type(exc).__name__} {exc}; every process of "
                          "this step was ended\n")
                raise
        if self.live:
            print("\r" + " " * 150 + "\r", end="", file=self.stream, flush=True)
        self.say(f"{label}: {'done' if status == 0 else f'exit {status}'} in {time.monotonic() - started:.1f}s")
        return status

    def run_all(self, jobs: Sequence["Job"]) -> list[int]:
        """Run ``jobs`` at the same time (each its own process group, output to its log);
        their exit statuses in order. One heartbeat line covers them all; an interruption
        stops every group. Used when the machine has the cores for both sides of an upgrade."""
        if len(jobs) < 2:
            return [self.run(job.label, job.command, job.log, env=job.env) for job in jobs]
        started = time.monotonic()
        handles, processes = [], []
        try:
            with _sigterm_interrupts():
                for job in jobs:
                    self.say(f"{job.label} (log: {job.log})")
                    job.log.parent.mkdir(parents=True, exist_ok=True)
                    handle = open(job.log, "a", encoding="utf-8")
                    handles.append(handle)
                    handle.write(f"$ {' '.join(map(str, job.command))}\n")
                    handle.flush()
                    processes.append(subprocess.Popen(list(map(str, job.command)), stdout=handle,
                                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                      env=dict(job.env) if job.env is not None else None,
                                                      start_new_session=True))
                statuses = self._wait_all(jobs, processes, started)
        except BaseException as exc:
            for process, handle in zip(processes, handles):
                stop_group(process)
                handle.write(f"\n[pytest-finetune] stopped: {type(exc).__name__} {exc}; every process of "
                             "this step was ended\n")
            raise
        finally:
            for handle in handles:
                handle.close()
        return statuses

    def _wait_all(self, jobs: Sequence["Job"], processes: Sequence[subprocess.Popen], started: float) -> list[int]:
        statuses: list[int | None] = [None] * len(jobs)
        last_beat = started
        while any(status is None for status in statuses):
            for index, process in enumerate(processes):
                if statuses[index] is None and process.poll() is not None:
                    statuses[index] = process.returncode
                    status = process.returncode
                    self.say(f"{jobs[index].label}: {'done' if status == 0 else f'exit {status}'} in "
                             f"{time.monotonic() - started:.1f}s")
            now = time.monotonic()
            if now - last_beat >= self.interval and any(status is None for status in statuses):
                for job, status in zip(jobs, statuses):
                    if status is None:
                        print(f"  {job.label}: {now - started:.0f}s  {_last_line(job.log)}", file=self.stream,
                              flush=True)
                last_beat = now
            time.sleep(0.5)
        return [int(status) for status in statuses if status is not None]

    def _wait(self, process: subprocess.Popen, label: str, log: Path, started: float) -> int:
        """Wait for ``process``, with a heartbeat line; its exit status."""
        last_beat, last_text = started, ""
        while True:
            try:
                return process.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                pass
            now, text = time.monotonic(), _last_line(log)
            line = f"  {label}: {now - started:.0f}s  {text}"
            if self.live:
                print(f"\r{line[:150]:<150}", end="", file=self.stream, flush=True)
            # In a log: a line when there is news, and at least every 4 intervals.
            elif now - last_beat >= (self.interval if text != last_text else 4 * self.interval):
                print(line, file=self.stream, flush=True)
                last_beat, last_text = now, text
