"""The heap policy of a run (digest.memory), measured in a fresh process on glibc."""

from __future__ import annotations

import subprocess
import sys

import pytest

from digest.memory import _libc

SCENARIO = """
import os
import sys
from digest.memory import give_back, map_large_blocks
if sys.argv[1] == "policy":
    assert map_large_blocks()
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
# one freed 1 MiB block raises glibc's own threshold above 1 MiB...
bytearray(1 << 20)
give_back()
before = rss()
# ...so without the policy these 40 blocks come from the heap, and stay there once freed
blocks = [bytearray(1 << 20) for _ in range(40)]
for b in blocks[:-1]:
    b[0] = 1
del blocks
print(rss() - before)
"""


@pytest.mark.skipif(_libc("mallopt") is None, reason="glibc only")
def test_large_blocks_go_back_to_the_system_once_freed() -> None:
    """With map_large_blocks, 40 MiB of freed 1 MiB blocks leave the process at once; without
    it glibc keeps them (the leftovers that used to stack up between a run's phases)."""

    def retained(mode: str) -> float:
        out = subprocess.run(
            [sys.executable, "-c", SCENARIO, mode], capture_output=True, text=True, check=True
        )
        return float(out.stdout)

    assert retained("policy") < 5
    assert retained("default") > 30
