"""What each side of an upgrade installs: the user's pip requirement specs, checked early.

A spec that does not parse, or a package named twice on one side, is the user's to fix
and stops the command with one line before any environment is built. torch is pinned on
both sides to the version running now unless a side names it: torch is the one package
whose wheel is huge and machine-specific (CPU or CUDA build), so a side that did not ask
for another torch gets exactly the build this machine already has.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Sequence

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from pytest_finetune.errors import FinetuneError

# What "the current environment" means for --old when it is not given.
DEFAULT_PACKAGES = ("torch", "transformers", "tokenizers", "datasets", "accelerate", "evaluate")


class UpgradeInputError(FinetuneError):
    """A spec or pin the user gave cannot be used (exit 2)."""


@dataclass(frozen=True)
class Side:
    """One side of the upgrade: a label ("old"/"new") and the requirement lines to install."""

    label: str
    requirements: tuple[str, ...]  # normalized, sorted; torch always named

    def names(self) -> set[str]:
        return {canonicalize_name(Requirement(line).name) for line in self.requirements}


def parse_specs(texts: Sequence[str], option: str) -> list[Requirement]:
    """Requirements from ``--old``/``--new`` values; each value may hold several specs."""
    found: dict[str, Requirement] = {}
    for text in texts:
        try:  # one spec, spaces allowed ("transformers >= 4.46, < 5")
            words = [str(Requirement(text))]
        except InvalidRequirement:  # or several in one quoted value
            words = text.split()
        for word in words:
            try:
                requirement = Requirement(word)
            except InvalidRequirement:
                raise UpgradeInputError(f"{option}: {word!r} is not a pip requirement "
                                        f"(expected e.g. transformers==4.57.6)") from None
            _check_marker(requirement, option)
            name = canonicalize_name(requirement.name)
            if name in found:
                raise UpgradeInputError(f"{option}: {requirement.name} is named twice "
                                        f"({found[name]} and {requirement})")
            found[name] = requirement
    return list(found.values())


def _check_marker(requirement: Requirement, option: str) -> None:
    """A requirement whose environment marker is false here is refused: pip would skip it
    without a word and install whatever else asks for the package (the newest release), so
    the side would test versions nobody named. The environments run this Python."""
    if requirement.marker is None:
        return
    try:
        applies = requirement.marker.evaluate({"extra": ""})
    except Exception as exc:  # noqa: BLE001 - packaging's errors differ by release
        raise UpgradeInputError(f"{option}: {requirement}: its environment marker cannot be "
                                f"evaluated ({exc}); drop the marker") from None
    if not applies:
        raise UpgradeInputError(f"{option}: {requirement}: its environment marker ({requirement.marker}) "
                                f"is false for this Python, so pip would skip it and install another "
                                f"{requirement.name}; drop the marker")


def current_versions(packages: Sequence[str] = DEFAULT_PACKAGES) -> dict[str, str]:
    """Installed versions of ``packages`` in this interpreter (absent ones left out)."""
    found = {}
    for name in packages:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def make_side(label: str, requirements: Sequence[Requirement], torch_version: str | None) -> Side:
    """The side's requirement lines, with torch pinned to ``torch_version`` unless named."""
    lines = [str(requirement) for requirement in requirements]
    if torch_version and "torch" not in {canonicalize_name(r.name) for r in requirements}:
        lines.append(f"torch=={torch_version}")
    return Side(label, tuple(sorted(lines, key=str.lower)))


def build_sides(old: Sequence[str] | None, new: Sequence[str]) -> tuple[Side, Side]:
    """The two sides from the command line; ``old`` defaults to this environment's versions."""
    new_requirements = parse_specs(new, "--new")
    if not new_requirements:
        raise UpgradeInputError("--new: expected at least one pip requirement, e.g. transformers==5.24.0")
    if old:
        old_requirements = parse_specs(old, "--old")
    else:
        pins = current_versions()
        if "transformers" not in pins:
            raise UpgradeInputError("--old not given and transformers is not installed here: "
                                    "name the old side, e.g. --old transformers==4.57.6")
        old_requirements = [Requirement(f"{name}=={pin}") for name, pin in pins.items()]
    torch_version = current_versions(("torch",)).get("torch")
    sides = make_side("old", old_requirements, torch_version), make_side("new", new_requirements, torch_version)
    if _requirements(sides[0]) == _requirements(sides[1]):
        named = " ".join(sides[1].requirements)
        raise UpgradeInputError(f"--old and --new name the same requirements ({named}): both sides would be "
                                "one environment and the verdict would compare it with itself; name the "
                                "versions to move to in --new")
    return sides


def _requirements(side: Side) -> dict[str, Requirement]:
    """A side's requirements by package, compared as pip reads them (``==5.25`` is ``==5.25.0``)."""
    return {canonicalize_name(Requirement(line).name): Requirement(line) for line in side.requirements}
