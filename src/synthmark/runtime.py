"""Process-wide tuning that the command line applies to its own process.

numpy allocates every temporary array of an image (a 512 px float32 plane is 1 MB) from the
C allocator. glibc's ``malloc`` serves such blocks by ``mmap`` and hands them back to the
system when they are freed, so the next array of the same size starts with fresh pages that
fault in one by one: about 3,400 page faults, some 5 ms, of a 25 ms watermark embed
(``benchmarks/watermark_timing.py``, see docs/watermark.md). :func:`tune_allocator` keeps
blocks of up to ``mmap_threshold`` bytes on the heap and lets the heap keep up to
``trim_threshold`` bytes of free memory, so freed arrays are reused.

The cost is memory: the process keeps its peak heap (for a 2048 px image, a few hundred MB)
instead of returning it between images. ``synthmark`` (the command line and the service it
starts) calls it at start; a program that uses the package as a library may call it, or set
glibc's own ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` variables. Where those
are set, or the C library is not glibc, it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Mapping

__all__ = ["tune_allocator"]

#: ``mallopt`` parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def tune_allocator(
    mmap_threshold: int = 32 << 20,
    trim_threshold: int = 256 << 20,
    environ: Mapping[str, str] | None = None,
) -> bool:
    """Keep freed array memory in the process (see the module doc). Returns whether glibc's
    ``mallopt`` accepted both settings; False where the C library is not glibc or a
    ``MALLOC_*_`` variable already configures it."""
    env = os.environ if environ is None else environ
    if any(name.startswith("MALLOC_") for name in env):
        return False  # the user's own allocator settings win
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(
        mallopt(_M_TRIM_THRESHOLD, trim_threshold)
    )
