"""Progress while a long step runs: which environment, which suite, how long so far.

Building an environment or running a suite takes minutes with nothing on the screen; the
subprocess's own output goes to a log file (a verdict, not 2,000 lines of installer output,
is what the user wants in the terminal) and a heartbeat shows the step, the elapsed time
and the log's last line. On a terminal the heartbeat rewrites one line; in CI logs it
prints a line every ``interval`` seconds while the log moves, every 4 intervals while not.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Mapping, Sequence, TextIO


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
                                       stdin=subprocess.DEVNULL, env=dict(env) if env is not None else None)
            last_beat, last_text = started, ""
            try:
                while True:
                    try:
                        status = process.wait(timeout=1.0)
                        break
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
            except BaseException:
                process.kill()
                process.wait()
                raise
        if self.live:
            print("\r" + " " * 150 + "\r", end="", file=self.stream, flush=True)
        self.say(f"{label}: {'done' if status == 0 else f'exit {status}'} in {time.monotonic() - started:.1f}s")
        return status
