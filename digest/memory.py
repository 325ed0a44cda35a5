"""The process's heap policy (glibc): large blocks go back to the system when freed.

A run's big arrays are short-lived: ranking works a chunk of subscribers at a time, an
embedding batch lives for one model call. glibc's allocator raises its mmap threshold each
time such a block is freed, after which blocks of that size come from the heap and stay
resident after `free` (in each thread's own arena, too). The run's peak memory then becomes
the sum of every phase's leftovers rather than the largest phase. `map_large_blocks` fixes
the threshold, so a block of `LARGE` bytes or more is its own mapping, returned on free;
`give_back` returns what the heap holds free at a phase's end. Both do nothing where the
C library has no such calls (macOS, musl, Windows).
"""

from __future__ import annotations

import ctypes
from functools import lru_cache
from typing import Any

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters, glibc's malloc.h
TRIM = 8  # free heap kept at its top, in blocks of `threshold` (glibc's own rule keeps 2)
# measured on the 10,000-digest run: 236-238 MiB at 256 KiB, 238-244 at 1 MiB (which scores
# 100,000 subscribers in 4.0 s instead of 6.9: a ranking chunk's 1 MB arrays then come from
# the heap); at 2 MiB an embedding batch peaks 28 MiB higher
LARGE = 256 * 1024


def map_large_blocks(threshold: int = LARGE) -> bool:
    """Serve blocks of `threshold` bytes or more by mmap for the rest of the process;
    False where the C library cannot."""
    mallopt = _libc("mallopt")
    if mallopt is None:
        return False
    # a fixed mmap threshold also fixes the trim threshold at 128 KiB: the heap would then
    # shrink and regrow (faulting its pages in afresh) around every freed array
    return bool(
        mallopt(M_MMAP_THRESHOLD, threshold) == 1
        and mallopt(M_TRIM_THRESHOLD, TRIM * threshold) == 1
    )


def give_back() -> None:
    """Return the heap's free memory to the system (glibc keeps it otherwise)."""
    trim = _libc("malloc_trim")
    if trim is not None:
        trim(0)


@lru_cache(maxsize=4)
def _libc(name: str) -> Any:
    """A function of the C library, or None when it has none by that name."""
    try:
        return getattr(ctypes.CDLL(None), name, None)
    except (OSError, TypeError):
        return None
