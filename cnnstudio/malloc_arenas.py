"""Fewer glibc malloc arenas for the desktop app, so memory freed after a run goes back to use.

glibc gives each thread that allocates its own arena (up to 8 per core) and keeps freed memory
in them; TensorFlow starts dozens of threads per run, so a window that trains again and again
grew by about 10 MB a run with nothing alive (docs/benchmarks.md). Two arenas, set before those
threads exist, is what ``MALLOC_ARENA_MAX=2`` would do.
"""

from __future__ import annotations

import ctypes
import os
import sys

MALLOC_ARENAS = 2
M_ARENA_MAX = -8  # mallopt's parameter number in glibc's malloc.h


def cap_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Limit glibc's arenas (Linux only; a ``MALLOC_ARENA_MAX`` the user set wins); True when done."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process runs on (absent on musl)
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_ARENA_MAX, arenas))
