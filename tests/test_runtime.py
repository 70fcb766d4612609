"""Process-wide allocator tuning (:mod:`synthmark.runtime`): freed image arrays are reused
instead of being faulted in again. Each check runs in a fresh interpreter, since the tuning
lasts for the life of a process."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

from synthmark.runtime import tune_allocator

# Four 3 MiB planes alive at once, then freed (an image step's temporaries), 20 times over;
# report the minor page faults it took.
PROBE = """
import json, resource, sys
import numpy as np
from synthmark.runtime import tune_allocator
tuned = tune_allocator() if sys.argv[1] == "tune" else None
def step():
    planes = [np.ones(3 << 18, np.float32) for _ in range(4)]
    del planes
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"tuned": tuned, "faults": faults}))
"""


def _probe(mode: str) -> dict[str, object]:
    env = {"PATH": "/usr/bin:/bin"}  # no MALLOC_* variables from the caller
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], env=env, check=True, capture_output=True, text=True
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="mallopt is glibc's (the tuning is a no-op elsewhere)",
)
def test_tuned_allocator_reuses_freed_arrays() -> None:
    """With glibc's defaults the freed planes go back to the system and every step faults
    its 12 MiB in again (about 3,000 pages); tuned, the heap keeps them."""
    plain, tuned = _probe("plain"), _probe("tune")
    assert tuned["tuned"] is True
    assert isinstance(plain["faults"], int) and isinstance(tuned["faults"], int)
    assert plain["faults"] > 20 * 1000
    assert tuned["faults"] < plain["faults"] / 20


def test_the_users_own_malloc_settings_win() -> None:
    """A ``MALLOC_*_`` variable means the allocator is configured already: left alone."""
    assert tune_allocator(environ={"MALLOC_ARENA_MAX": "2"}) is False
