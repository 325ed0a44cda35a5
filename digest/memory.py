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

M_MMAP_THRESHOLD = -3  # mallopt parameter, glibc's malloc.h
# below a ranking chunk's arrays (256 subscribers x 1,000 papers x 4 bytes is 1 MiB) and an
# embedding batch's tensors, above a digest's strings and bytes (~33 KB)
LARGE = 256 * 1024


def map_large_blocks(threshold: int = LARGE) -> bool:
    """Serve blocks of `threshold` bytes or more by mmap for the rest of the process;
    False where the C library cannot."""
    mallopt = _libc("mallopt")
    return bool(mallopt is not None and mallopt(M_MMAP_THRESHOLD, threshold) == 1)


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
