"""Under CI no test may skip: what a test needs (sshd hosts, the test user,
Slurm, a browser, the seed manual) must be there, or the test fails saying
what is missing. Elsewhere such a test skips with the same words."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def under_ci() -> bool:
    """Whether we run under CI (``CI`` set to anything but empty, 0, false, no)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> NoReturn:
    """Skip the current test for ``reason``; under CI, fail it instead."""
    if under_ci():
        pytest.fail(f"required under CI but unavailable: {reason}", pytrace=False)
    pytest.skip(reason)
