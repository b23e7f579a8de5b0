"""Build a patched "release" of transformers: a known change to show what the verdict says.

The upgrade verdict must tell a quality-neutral change from a harmful one. Real releases do
both, but not on demand; these wheels do, by construction, on top of a real release:

- ``rng_draw``: one more ``torch.rand(1)`` at the end of ``Trainer.__init__``. It changes
  which random numbers the Trainer's run draws (dropout masks), nothing else: quality-neutral.
- ``schedule_cut``: the linear schedule's factor drops to 0 after a tenth of the training
  steps (Trainer and the loop both use it): training stops early, harmful by construction.

Each wheel gets a post-release version of its base (rng_draw ``.post1``, schedule_cut
``.post2``), so pip or uv installs it only when asked for exactly that version, from the
folder given with ``--find-links``. (Not a local label such as ``5.25.0+rngdraw``: a pin
``==5.25.0`` matches every local build of 5.25.0 and the installer prefers it, so the old
side would get the patched wheel too.)::

    python benchmarks/fake_release.py --base 5.25.0 --kind rng_draw --out /tmp/fake-wheels
    pytest-finetune upgrade --old transformers==5.25.0 --new transformers==5.25.0.post1 \\
        --find-links /tmp/fake-wheels

The base wheel comes from the package index pip is configured with (``pip download``).
"""
from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PATCHES = {
    "rng_draw": ("transformers/trainer.py", '''

# --- fake release (benchmarks/fake_release.py, kind rng_draw) -----------------------------
_fake_release_init = Trainer.__init__


def _fake_release_trainer_init(self, *args, **kwargs):
    _fake_release_init(self, *args, **kwargs)
    torch.rand(1)  # one more random number drawn: quality-neutral by construction


Trainer.__init__ = _fake_release_trainer_init
'''),
    "schedule_cut": ("transformers/optimization.py", '''

# --- fake release (benchmarks/fake_release.py, kind schedule_cut) -------------------------
_fake_release_linear = _get_linear_schedule_with_warmup_lr_lambda


def _get_linear_schedule_with_warmup_lr_lambda(current_step, *, num_warmup_steps, num_training_steps):
    if current_step >= max(1, num_training_steps // 10):
        return 0.0  # the schedule drops to zero after a tenth of training: harmful by construction
    return _fake_release_linear(current_step, num_warmup_steps=num_warmup_steps,
                                num_training_steps=num_training_steps)
'''),
}


POST = {"rng_draw": 1, "schedule_cut": 2}


def _record_line(name: str, data: bytes) -> list[str]:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return [name, f"sha256={digest}", str(len(data))]


def build(base: str, kind: str, out: Path) -> Path:
    """The patched wheel of transformers ``base`` in ``out``; its path."""
    version = f"{base}.post{POST[kind]}"
    target, patch = PATCHES[kind]
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                        "-d", tmp, f"transformers=={base}"], check=True, capture_output=True)
        (source,) = Path(tmp).glob("transformers-*.whl")
        files: dict[str, bytes] = {}
        with zipfile.ZipFile(source) as wheel:
            for name in wheel.namelist():
                files[name] = wheel.read(name)
    old_info, new_info = f"transformers-{base}.dist-info", f"transformers-{version}.dist-info"
    files[target] = files[target] + patch.encode()
    renamed: dict[str, bytes] = {}
    for name, data in files.items():
        if name.startswith(old_info + "/"):
            name = new_info + name[len(old_info):]
            if name.endswith("/METADATA"):
                data = data.replace(f"\nVersion: {base}\n".encode(), f"\nVersion: {version}\n".encode(), 1)
        renamed[name] = data
    record_name = f"{new_info}/RECORD"
    rows = [_record_line(name, data) for name, data in renamed.items() if name != record_name]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows + [[record_name, "", ""]])
    renamed[record_name] = buffer.getvalue().encode()
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"transformers-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in renamed.items():
            wheel.writestr(name, data)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="5.25.0", help="the real transformers release to patch")
    parser.add_argument("--kind", choices=sorted(PATCHES), action="append", required=True)
    parser.add_argument("--out", type=Path, required=True, help="folder for the wheels (a --find-links folder)")
    args = parser.parse_args()
    for kind in args.kind:
        print(build(args.base, kind, args.out))


if __name__ == "__main__":
    main()
