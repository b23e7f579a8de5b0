"""Hypothesis settings profiles that users (and this repo) opt into.

Property tests that draw different examples on every CI run turn a dependency bump into
a lottery; derandomized, a failure reproduces and a pass means the same thing each time.
The profiles are namespaced (``finetune-ci``, ``finetune-dev``) and loaded only when asked
(``--finetune-hypothesis-profile`` / ini ``finetune_hypothesis_profile``, or a call from a
conftest): the plugin is installed in sessions of projects that have their own ``ci``
profile, and it must not replace it.
"""
from __future__ import annotations

from typing import Any

from pytest_finetune.errors import ConfigError

PROFILES: dict[str, dict[str, Any]] = {
    "finetune-ci": dict(derandomize=True, max_examples=25, deadline=None, print_blob=True,
                        suppress_health_check=["too_slow", "data_too_large"]),
    "finetune-dev": dict(max_examples=200, deadline=None,
                         suppress_health_check=["too_slow", "data_too_large"]),
}


def register_profiles() -> None:
    """Register the profiles under their own names; loads nothing."""
    from hypothesis import HealthCheck, settings

    for name, values in PROFILES.items():
        values = dict(values, suppress_health_check=[HealthCheck[h] for h in values["suppress_health_check"]])
        settings.register_profile(name, **values)


def use_profile(name: str) -> str:
    """Register the profiles and load ``name``; ConfigError naming the choices otherwise."""
    if name not in PROFILES:
        raise ConfigError(f"--finetune-hypothesis-profile / ini finetune_hypothesis_profile: "
                          f"{name!r} is not one of {', '.join(PROFILES)}")
    from hypothesis import settings

    register_profiles()
    settings.load_profile(name)
    return name
