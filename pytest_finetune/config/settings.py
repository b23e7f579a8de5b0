"""The resolved settings of one session, from pytest's config or the CLI's arguments."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from pytest_finetune.config.options import OPTIONS, OPTIONS_BY_DEST, output_folder_problem, resolve
from pytest_finetune.errors import ConfigError


@dataclass(frozen=True)
class FinetuneSettings:
    model: str | None
    data: str
    task: str
    device: str
    baselines: Path
    update_baselines: str  # "" (off), "failing" or "all"
    record_missing: bool
    seeds: int
    tolerance_k: float
    report: str | None
    cache_dir: str | None
    ci_require_data: bool
    trust_remote_code: bool

    @classmethod
    def from_sources(cls, cli: Mapping[str, Any], ini: Mapping[str, Any], root: Path,
                     environ: Mapping[str, str] | None = None) -> "FinetuneSettings":
        """Raises ConfigError naming the option when a value is invalid.

        ``root`` is the folder a relative baselines path is read from: the ini file's folder,
        else where the user started (never pytest's rootdir, which an option value given as
        a separate argument can move to a common ancestor of unrelated folders).
        """
        values = {o.dest: resolve(o, cli.get(o.dest), ini.get(o.dest), environ) for o in OPTIONS}
        baselines = Path(values["baselines"]).expanduser()
        values["baselines"] = baselines if baselines.is_absolute() else root / baselines
        # Only a file in the way is an error here: a read-only folder can still be compared with.
        problem = output_folder_problem(values["baselines"], writable=False)
        if problem:
            raise ConfigError(f"{OPTIONS_BY_DEST['baselines'].describe()}: baselines folder "
                              f"{values['baselines']} {problem}; expected a folder of baseline JSON files")
        writer = next((OPTIONS_BY_DEST[dest].cli for dest in ("update_baselines", "record_missing")
                       if values[dest]), None)
        # Asked to write there: a folder that cannot take a file is said now, not after the
        # training (an hour with -m full) whose results it would have held.
        problem = writer and output_folder_problem(values["baselines"], writable=True)
        if problem:
            raise ConfigError(f"{OPTIONS_BY_DEST['baselines'].describe()}: baselines folder "
                              f"{values['baselines']} {problem}; {writer} writes the baselines there")
        return cls(**values)
