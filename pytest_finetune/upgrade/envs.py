"""Isolated environments for each side of an upgrade, built once and reused.

An environment lives in ``<cache>/envs/<key>/`` where the key hashes the Python version, the
requirement lines (the side's pins plus pytest-finetune's own dependencies) and where
pytest-finetune comes from. ``complete.json`` is written last, so a folder without it is a
half-built environment (a crash, Ctrl-C, a failed install) and is rebuilt; a file lock
keeps two concurrent ``upgrade`` calls from building the same environment at once.

Installer: ``uv`` when it is installed (``pip install "pytest-finetune[upgrade]"``), else
``venv`` + pip. pip reads its own configuration (find-links, constraints, extra indexes:
how a machine gets its CPU torch wheel from local disk); uv ignores pip's configuration, so
the same settings are read from ``pip config list`` and passed to uv explicitly. Either way
torch comes from the same place as this environment's, and uv's cache links one copy of
each wheel into both environments.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any, Sequence

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from pytest_finetune._io import atomic_write_text, read_json
from pytest_finetune.upgrade.progress import Progress
from pytest_finetune.upgrade.specs import Side, UpgradeInputError

MARKER = "complete.json"
DATA_LIBRARIES = ("datasets", "tokenizers", "transformers")  # what reads and tokenizes the data
LAYOUT_VERSION = 1  # bump when the way an environment is built changes


class UpgradeFailed(Exception):
    """An environment or a suite could not be built or run for a reason that is not the
    user's input (network, disk, a crash): the CLI's exit 3, with the log's path."""


class EnvBuildError(UpgradeFailed):
    """Building failed for a reason that is not the user's specs (network, disk, a bug)."""


# -- installer settings ------------------------------------------------------------------
@dataclass
class IndexSettings:
    """pip's package sources and constraints, to hand to an installer that does not read them."""

    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)

    def merged(self, extra: "IndexSettings") -> "IndexSettings":
        """These settings with ``extra`` (the user's own sources) taking precedence: its index
        URL replaces ours, its extra indexes and find-links come first."""
        return IndexSettings(index_url=extra.index_url or self.index_url,
                             extra_index_urls=extra.extra_index_urls + self.extra_index_urls,
                             find_links=extra.find_links + self.find_links, constraints=list(self.constraints))

    def pip_args(self) -> list[str]:
        """The user's sources as pip options (pip reads its own configuration besides)."""
        args = ["--index-url", self.index_url] if self.index_url else []
        for url in self.extra_index_urls:
            args += ["--extra-index-url", url]
        for link in self.find_links:
            args += ["--find-links", link]
        return args

    def uv_args(self) -> list[str]:
        args = ["--index-strategy", "unsafe-best-match"]  # pip's rule: best version over all indexes
        if self.index_url:
            args += ["--index-url", self.index_url]
        for url in self.extra_index_urls:
            args += ["--extra-index-url", url]
        for link in self.find_links:
            args += ["--find-links", link]
        for path in self.constraints:
            args += ["--constraint", path]
        return args


_PIP_KEYS = {"index-url": "index_url", "extra-index-url": "extra_index_urls",
             "find-links": "find_links", "constraint": "constraints"}


def parse_pip_config(text: str) -> IndexSettings:
    """Settings from ``pip config list`` output. pip's precedence is kept: the environment
    (``:env:``, i.e. ``PIP_*`` variables) over the ``install`` section over ``global``."""
    rank = {":env:": 3, "install": 2, "global": 1}
    best: dict[str, tuple[int, str]] = {}
    for line in text.splitlines():
        match = re.match(r"^(:env:|[\w-]+)\.([\w-]+)='(.*)'$", line.strip())
        if not match or match.group(2) not in _PIP_KEYS or match.group(1) not in rank:
            continue
        level = rank[match.group(1)]
        if match.group(2) not in best or level > best[match.group(2)][0]:
            best[match.group(2)] = (level, match.group(3))
    settings = IndexSettings()
    for key, (_, value) in best.items():
        words = value.split()
        if key == "index-url":
            settings.index_url = words[0] if words else None
        else:
            setattr(settings, _PIP_KEYS[key], words)
    return settings


def pip_index_settings() -> IndexSettings:
    """This machine's pip settings (``PIP_*`` variables alone if pip itself is absent)."""
    try:
        done = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True,
                              text=True, timeout=60)
        text = done.stdout if done.returncode == 0 else ""
    except (OSError, subprocess.TimeoutExpired):
        text = ""
    if not text:
        text = "\n".join(f":env:.{name[4:].lower().replace('_', '-')}='{value}'"
                         for name, value in os.environ.items() if name.startswith("PIP_"))
    return parse_pip_config(text)


def find_uv() -> str | None:
    try:
        import uv  # the PyPI package ships the binary

        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


# -- pytest-finetune itself --------------------------------------------------------------
@dataclass
class OwnSource:
    """Where each environment gets pytest-finetune from, and what else it needs."""

    install_args: list[str]  # e.g. ["-e", "/src/pytest-finetune"]
    origin: str  # part of the environment key
    dependencies: list[str]
    version: str


def _source_tree() -> Path | None:
    import pytest_finetune

    tree = Path(pytest_finetune.__file__).resolve().parents[1]
    pyproject = tree / "pyproject.toml"
    if pyproject.is_file() and re.search(r'^name\s*=\s*"pytest-finetune"', pyproject.read_text(encoding="utf-8"), re.M):
        return tree
    return None


def own_source() -> OwnSource:
    """The running pytest-finetune: a source tree (editable, so each environment runs this
    very code), else the wheel or archive it was installed from, else its release."""
    tree = _source_tree()
    if tree is not None and sys.version_info >= (3, 11):
        import tomllib

        project = tomllib.loads((tree / "pyproject.toml").read_text(encoding="utf-8"))["project"]
        return OwnSource(["-e", str(tree)], f"editable:{tree}", list(project["dependencies"]), project["version"])
    try:
        dist = distribution("pytest-finetune")
    except PackageNotFoundError:
        raise EnvBuildError("pytest-finetune is neither installed nor run from its source tree") from None
    dependencies = [line for line in dist.requires or [] if "extra ==" not in line]
    if tree is not None:  # Python 3.10 has no tomllib: the installed metadata lists the same
        return OwnSource(["-e", str(tree)], f"editable:{tree}", dependencies, dist.version)
    direct = json.loads(dist.read_text("direct_url.json") or "{}")
    if "archive_info" in direct and direct.get("url", "").startswith("file://"):
        return OwnSource([direct["url"][len("file://"):]], direct["url"], dependencies, dist.version)
    return OwnSource([f"pytest-finetune=={dist.version}"], f"release:{dist.version}", dependencies, dist.version)


def source_digest() -> str | None:
    """A hash of the running pytest-finetune's source files when the environments install it
    editable (None otherwise): both sides must run the same code, and a checkout that
    changes between the two suites (a pull, a branch switch) would compare two versions of
    the guard suite instead of two versions of the libraries."""
    tree = _source_tree()
    if tree is None:
        return None
    digest = hashlib.sha256()
    for path in sorted((tree / "pytest_finetune").rglob("*")):
        # Code and the packaged baselines; not what a test run writes and removes there
        # meanwhile (``*.obtained.json``, hidden temporary files), which is no guard code.
        if path.is_file() and path.suffix in (".py", ".json", ".ini") \
                and not path.name.endswith(".obtained.json") and not path.name.startswith("."):
            digest.update(str(path.relative_to(tree)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def env_requirements(side: Side, own: OwnSource) -> list[str]:
    """The side's pins, plus pytest-finetune's other dependencies. A pinned package's own
    requirement is dropped: the pin is what the user wants to test, even outside the range
    pytest-finetune declares."""
    pinned = side.names()
    rest = [line for line in own.dependencies if canonicalize_name(Requirement(line).name) not in pinned]
    return list(side.requirements) + sorted(rest, key=str.lower)


def env_key(requirements: Sequence[str], own: OwnSource, sources: IndexSettings | None = None) -> str:
    """The environment's folder name. The user's own package sources are part of it when
    given: the same version string from a private index may be another build."""
    content: dict[str, object] = {"python": sys.version, "requirements": sorted(requirements), "own": own.origin,
                                  "version": own.version, "layout": LAYOUT_VERSION}
    if sources is not None and sources != IndexSettings():
        content["sources"] = [sources.index_url, sources.extra_index_urls, sources.find_links]
    blob = json.dumps(content, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# -- building ------------------------------------------------------------------------------
@dataclass
class Env:
    side: Side
    path: Path
    versions: dict[str, str]
    reused: bool
    build_s: float
    installer: str
    threads: int | None = None  # torch threads for its processes (None: torch's own choice)

    @property
    def python(self) -> Path:
        return self.path / "venv" / "bin" / "python"

    def subprocess_env(self) -> dict[str, str]:
        """The caller's environment minus what would leak this interpreter's packages in."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV",
                                                                "PYTHONSTARTUP", "UV_PYTHON")}
        env["VIRTUAL_ENV"] = str(self.path / "venv")
        env["PYTEST_FINETUNE_CACHE"] = str(self.data_cache())
        env["PATH"] = f"{self.path / 'venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        if self.threads:
            env["OMP_NUM_THREADS"] = str(self.threads)
        return env

    def data_cache(self) -> Path:
        """The raw and tokenized data cache of this environment, shared with every other
        environment whose libraries that read and tokenize the data (datasets, tokenizers,
        transformers) are the same releases: a bisection step that moves torch or accelerate
        reuses the tokenization, while one that moves transformers tokenizes with its own (a
        cache shared across those could hand new the tokenization old made, hiding a drift).
        Inside the folder, every entry is keyed by the data's and tokenizer's content."""
        readers = {name: self.versions.get(name) for name in DATA_LIBRARIES}
        if not all(readers.values()):  # an environment that could not say: its own folder
            return self.path / "finetune-cache"
        key = hashlib.sha256(json.dumps(readers, sort_keys=True).encode()).hexdigest()[:16]
        return self.path.parent / "data-caches" / key


_UNRESOLVABLE = ("No solution found", "ResolutionImpossible", "No matching distribution found",
                 "Could not find a version that satisfies", "Cannot install")


def unresolvable_reason(log_text: str) -> str | None:
    """The installer's one line that says why the pins cannot be installed together, or
    None when the failure is something else (network, disk, a build error)."""
    if not any(marker in log_text for marker in _UNRESOLVABLE):
        return None
    for line in log_text.splitlines():
        clean = re.sub(r"^[\s╰─▶│×]*(cause:|ERROR:)?\s*", "", line)
        if clean.startswith(("Because ", "No matching distribution", "Could not find a version", "Cannot install")):
            return re.sub(r"\s*\(from versions:.*", "", clean).strip()
    return "the requirements cannot be resolved together"


def reusable(path: Path) -> tuple[dict[str, Any] | None, str]:
    """The environment's ``complete.json`` when the folder can be reused as it is; else None
    and what to say while it is rebuilt. A marker that is cut short, unreadable or lacks a
    field, or a folder whose interpreter is gone (``venv/`` deleted), means a damaged
    environment: rebuilt, never trusted and never a traceback."""
    marker = path / MARKER
    if not marker.is_file():
        return None, "incomplete (an earlier build stopped before the end), rebuilding"
    try:
        info = read_json(marker, EnvBuildError, "rebuilding")
    except EnvBuildError as exc:
        return None, f"damaged: {exc}"
    if not isinstance(info, dict) or not isinstance(info.get("versions"), dict) \
            or not all(isinstance(info.get(key), str) for key in ("built_at", "installer")):
        return None, f"damaged: {marker} lacks versions, built_at or installer; rebuilding"
    if not (path / "venv" / "bin" / "python").exists():
        return None, f"damaged: {path / 'venv' / 'bin' / 'python'} is missing; rebuilding"
    return info, ""


class EnvBuilder:
    def __init__(self, cache_root: Path, progress: Progress, installer: str = "auto",
                 sources: IndexSettings | None = None) -> None:
        self.root = Path(cache_root).expanduser() / "envs"
        self.sources = sources or IndexSettings()  # the user's --index-url/--extra-index-url/--find-links
        self.progress = progress
        self.own = own_source()
        self.uv = find_uv() if installer in ("auto", "uv") else None
        if installer == "uv" and self.uv is None:
            raise UpgradeInputError("--installer uv: uv is not installed (pip install 'pytest-finetune[upgrade]')")
        self.installer = "uv" if self.uv else "pip"
        self._index: IndexSettings | None = None

    def index(self) -> IndexSettings:
        if self._index is None:
            self._index = pip_index_settings().merged(self.sources)
        return self._index

    def location(self, side: Side) -> Path:
        return self.root / env_key(env_requirements(side, self.own), self.own, self.sources)

    def ensure(self, side: Side, rebuild: bool = False) -> Env:
        """The side's environment, built unless a complete one exists (or ``rebuild``)."""
        from filelock import FileLock

        path = self.location(side)
        path.parent.mkdir(parents=True, exist_ok=True)
        label = f"[{side.label}] environment {path.name}"
        with FileLock(str(path) + ".lock"):
            marker = path / MARKER
            info, problem = (None, "rebuilding") if rebuild else reusable(path)
            if info is not None:
                self.progress.say(f"{label}: reused (built {info['built_at']} by {info['installer']})")
                return Env(side, path, info["versions"], True, 0.0, info["installer"])
            if path.exists():
                self.progress.say(f"{label}: {problem}")
                try:
                    shutil.rmtree(path)
                except OSError as exc:
                    raise EnvBuildError(f"{label}: cannot remove {path} to rebuild it "
                                        f"({exc.strerror or exc}); delete it by hand") from None
            started = time.monotonic()
            env = self._build(side, path, label)
            env.build_s = time.monotonic() - started
            atomic_write_text(marker, json.dumps({
                "requirements": env_requirements(side, self.own), "versions": env.versions,
                "installer": self.installer, "own": self.own.origin, "python": sys.version,
                "build_s": round(env.build_s, 1), "built_at": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=1) + "\n")
            return env

    def _step(self, label: str, command: Sequence[str], log: Path, side: Side) -> None:
        if self.progress.run(label, command, log) != 0:
            reason = unresolvable_reason(log.read_text(encoding="utf-8", errors="replace"))
            if reason is not None:
                raise UpgradeInputError(f"--{side.label} {' '.join(side.requirements)}: cannot be installed: {reason}")
            raise EnvBuildError(f"{label} failed; see {log}")

    def _build(self, side: Side, path: Path, label: str) -> Env:
        path.mkdir(parents=True)
        log = path / "build.log"
        requirements = path / "requirements.txt"
        atomic_write_text(requirements, "\n".join(env_requirements(side, self.own)) + "\n")
        venv, python = path / "venv", path / "venv" / "bin" / "python"
        if self.uv:
            index = self.index().uv_args()
            self._step(f"{label}: creating venv (uv)", [self.uv, "venv", "--python", sys.executable, venv], log, side)
            # Bytecode is compiled here, once, not by the first suite run in every call.
            self._step(f"{label}: installing {' '.join(side.requirements)} (uv)",
                       [self.uv, "pip", "install", "--python", python, *index, "--compile-bytecode",
                        "-r", requirements], log, side)
            self._step(f"{label}: installing pytest-finetune (uv)",
                       [self.uv, "pip", "install", "--python", python, *index, "--no-deps", *self.own.install_args],
                       log, side)
        else:
            self.progress.say(f"{label}: pip installs a full copy of torch and every other package into "
                              "each environment (about 1.9 GB each with the CPU torch wheel); uv links one "
                              "shared copy instead: pip install 'pytest-finetune[upgrade]'")
            self._step(f"{label}: creating venv", [sys.executable, "-m", "venv", venv], log, side)
            self._step(f"{label}: installing {' '.join(side.requirements)} (pip)",
                       [python, "-m", "pip", "install", *self.sources.pip_args(), "-r", requirements], log, side)
            self._step(f"{label}: installing pytest-finetune (pip)",
                       [python, "-m", "pip", "install", "--no-deps", *self.own.install_args], log, side)
        env = Env(side, path, {}, False, 0.0, self.installer)
        env.versions = _env_versions(env)
        return env


def _env_versions(env: Env) -> dict[str, str]:
    """The exact versions inside the environment, asked from its own interpreter (which
    also proves that pytest-finetune imports there)."""
    code = ("import json; from pytest_finetune.runs.result import library_versions; "
            "print(json.dumps(library_versions()))")
    done = subprocess.run([str(env.python), "-c", code], capture_output=True, text=True,
                          env=env.subprocess_env(), timeout=300)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise EnvBuildError(f"[{env.side.label}] pytest-finetune does not import in {env.path}: {tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])
