"""Hypothesis profiles for the xentref test suite.

Two profiles are registered:

- `ci` (the default): derandomized, so every run draws the same examples (seeded from a hash of
  each test), no example database, no deadline, and few enough examples that the property-test
  modules run in well under a minute on two cores.
- `thorough`: random seeds, the example database on, and many more examples per test; for a
  local bug hunt.

Select one with the environment variable `XENTREF_HYPOTHESIS_PROFILE`, e.g.
`XENTREF_HYPOTHESIS_PROFILE=thorough .venv/bin/python -m pytest tests/test_theorems.py`.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=40,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    derandomize=False,
    deadline=None,
    max_examples=1000,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("XENTREF_HYPOTHESIS_PROFILE", "ci"))
