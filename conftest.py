"""Shared pytest setup: hypothesis profiles for tests/ and proofs/.

HYPOTHESIS_PROFILE=dev (default) is quick for local work; ci runs more examples but stays
within the suite's time budget on 2 cores; device is a few examples for the device check's
sanitizer runs; thorough is for a long look before a release.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=25, deadline=None)
settings.register_profile(
    "ci", max_examples=60, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
# A few examples each: the device check's compute-sanitizer runs (bench/device_check.py).
settings.register_profile(
    "device", max_examples=3, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
