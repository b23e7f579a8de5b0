#!/usr/bin/env python
"""Wall time of this repo's fast tier, the selection to run on every pull request.

Runs the README's fast command (``FAST_TIER``) as a subprocess from the repo root, first
on a cold pytest-finetune cache (a fresh ``PYTEST_FINETUNE_CACHE``: the raw MRPC Arrow
files and every tokenization are built again, as on a fresh CI machine), then warm (the
same cache again), and prints each run's wall time, CPU time and the load average around
it, then min and median per kind::

    python benchmarks/fast_tier.py                  # 1 cold + 3 warm runs
    python benchmarks/fast_tier.py --cold 2 --warm 5

The target is < 60 s wall on 2 idle cores. Other processes on the CPU stretch the wall
time but hardly the CPU time (user + sys of pytest and its children), so both are shown:
on 2 cores the wall time cannot fall below half the CPU time.

Light on purpose (no torch in this process); ``bench.py`` part d uses ``run_pytest`` too.
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The README's fast command selects exactly this (tests/test_tiers.py keeps them equal).
FAST_TIER = "not full and not gpu and not slow"


def default_data() -> str:
    return os.environ.get("PYTEST_FINETUNE_MRPC_DIR") or str(REPO.parent / "shared" / "data" / "mrpc")


def command(marker: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-m", marker, "-q", "-p", "no:cacheprovider", *extra]


def run_pytest(marker: str, data: str, *extra: str, env: dict[str, str] | None = None) -> dict:
    """One ``python -m pytest -m MARKER`` from the repo root: wall and CPU seconds, exit code,
    pytest's summary line, the ``benchmarks.count_runs`` line if loaded, the output's tail."""
    full_env = dict(os.environ, PYTEST_FINETUNE_MRPC_DIR=data, **(env or {}))
    load_before = os.getloadavg()[0]
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(command(marker, *extra), cwd=REPO, env=full_env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = proc.stdout + proc.stderr
    found = re.search(r"pytest-finetune: trained (\d+) model", out)
    distinct = re.search(r"\((\d+) distinct config\(s\); (\d+) retrained", out)
    summary = [line for line in proc.stdout.splitlines() if re.search(r" in [\d.]+s\b", line)]
    return dict(marker=marker, wall_s=wall, rc=proc.returncode,
                cpu_s=(cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime),
                load=(load_before, os.getloadavg()[0]),
                models=int(found.group(1)) if found else None,
                distinct=f"{distinct.group(1)} ({distinct.group(2)} retrained)" if distinct else None,
                summary=summary[-1].strip("= ") if summary else "", tail=out[-3000:])


def _line(kind: str, n: int, r: dict) -> str:
    return (f"{kind} {n}: {r['wall_s']:6.1f} s wall, {r['cpu_s']:6.1f} s cpu, load {r['load'][0]:.2f} -> "
            f"{r['load'][1]:.2f}, exit {r['rc']}: {r['summary']}")


def _stats(kind: str, walls: list[float]) -> str:
    return f"{kind}: min {min(walls):.1f} s, median {statistics.median(walls):.1f} s over {len(walls)} run(s)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cold", type=int, default=1, help="runs, each on a fresh empty cache (1)")
    parser.add_argument("--warm", type=int, default=3,
                        help="runs on the cache the last cold run filled (3; with --cold 0 the first fills it)")
    parser.add_argument("--data", default=default_data(), help="MRPC folder (%(default)s)")
    args = parser.parse_args(argv)
    data = str(Path(args.data).expanduser().resolve())

    print(f'fast tier: python -m pytest -m "{FAST_TIER}" -q -p no:cacheprovider  (cwd {REPO})')
    print(f"cores: {os.cpu_count()}; load average (1/5/15 min) at start: "
          + " / ".join(f"{x:.2f}" for x in os.getloadavg()), flush=True)
    walls: dict[str, list[float]] = {"cold": [], "warm": []}
    failed = False
    with tempfile.TemporaryDirectory(prefix="fast-tier-cache-") as root:
        cache = Path(root) / "warm"
        for n in range(1, args.cold + 1):
            fresh = Path(root) / f"cold-{n}"  # the last cold run's cache is the warm one
            r = run_pytest(FAST_TIER, data, env={"PYTEST_FINETUNE_CACHE": str(fresh)})
            if n == args.cold and fresh.exists():
                fresh.rename(cache)
            walls["cold"].append(r["wall_s"])
            failed |= r["rc"] != 0
            print(_line("cold", n, r), flush=True)
            if r["rc"] != 0:
                print(r["tail"])
        for n in range(1, args.warm + 1):
            r = run_pytest(FAST_TIER, data, env={"PYTEST_FINETUNE_CACHE": str(cache)})
            walls["warm"].append(r["wall_s"])
            failed |= r["rc"] != 0
            print(_line("warm", n, r), flush=True)
            if r["rc"] != 0:
                print(r["tail"])
    for kind, values in walls.items():
        if values:
            print(_stats(kind, values))
    print("load average (1/5/15 min) at end: " + " / ".join(f"{x:.2f}" for x in os.getloadavg()))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
