"""Process-wide allocator settings, applied once at server start.

Strategy: the pipeline allocates and frees large buffers at a high rate (Arrow arrays
and numpy arrays of 64k-row chunks). glibc's malloc serves any block above its mmap
threshold (128 KiB by default, adaptive) with a fresh mmap and returns it with munmap,
and trims the heap top eagerly, so every chunk pays its buffers' page faults again:
measured with `bench/nexmark.py`, half of q0's pipeline CPU went to minor page faults
(about 350k per 10M events). Raising the mmap and trim thresholds keeps freed memory in
the heap for reuse (q0 6.4M -> 11.8M events/s in that run). The cost is that memory
freed after a burst is returned to the system later, not at once.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import structlog

log = structlog.get_logger("laminar_pg.memory")

M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 128 * 1024 * 1024
TRIM_THRESHOLD = 512 * 1024 * 1024


def tune_allocator() -> bool:
    """Raise glibc's mmap and trim thresholds; False where there is no glibc mallopt."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    if not done:
        log.warning("allocator thresholds not set")
    return done
