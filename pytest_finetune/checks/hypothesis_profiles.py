"""Hypothesis settings profiles: ``ci`` (the default) is derandomized and bounded.

Property tests that draw different examples on every CI run turn a dependency bump into
a lottery; derandomized, a failure reproduces and a pass means the same thing each time.
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

PROFILES = {
    "ci": dict(derandomize=True, max_examples=25, deadline=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
               phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink]),
    "dev": dict(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]),
}


def register_hypothesis_profiles(selected: str | None = None) -> str:
    """Register both profiles and load ``selected`` (else $HYPOTHESIS_PROFILE, else ci)."""
    for name, values in PROFILES.items():
        settings.register_profile(name, **values)
    name = selected or os.environ.get("HYPOTHESIS_PROFILE") or "ci"
    settings.load_profile(name)
    return name
