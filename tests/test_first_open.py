"""A new SQLite store is created atomically and once: eight commands opening it at the same
moment all succeed, and a first migration killed or cut short by a full disk leaves a store
that the next command opens and completes."""

from __future__ import annotations

import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from digest.store import SCHEMA_VERSION, Store
from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # processes

OPEN = "import sys\nfrom digest.store import Store\nStore(f'sqlite:///{sys.argv[1]}').close()\n"


def _opener(path: Path, **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", OPEN, str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,  # type: ignore[call-overload]
    )


def _version(path: Path) -> int:
    store = Store(f"sqlite:///{path}")
    try:
        return store.schema_version()
    finally:
        store.close()


def test_eight_commands_opening_one_new_store_at_once_all_succeed(tmp_path: Path) -> None:
    """Eight processes open the same new store together: every one exits 0 and the store
    is at the current schema."""
    path = tmp_path / "new.sqlite3"
    procs = [_opener(path) for _ in range(8)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert _version(path) == SCHEMA_VERSION


@pytest.mark.parametrize("cap", [8192, 32768, 65536])
def test_a_first_migration_on_a_full_disk_leaves_a_store_the_next_command_completes(
    tmp_path: Path, cap: int
) -> None:
    """With files capped (RLIMIT_FSIZE: a disk that fills early, midway or late in the
    migration) the first open fails; the next open, with room, creates the whole schema."""
    path = tmp_path / "full.sqlite3"

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (cap, cap))

    proc = _opener(path, preexec_fn=small_files)
    proc.communicate(timeout=120)
    assert proc.returncode != 0, "the capped open should have failed"
    assert _version(path) == SCHEMA_VERSION


def test_a_first_migration_killed_at_random_moments_never_breaks_the_store(
    tmp_path: Path,
) -> None:
    """Ten first opens, each SIGKILLed after a random delay: after every kill the next open
    creates or finds the complete schema."""
    rng = random.Random(25)
    for attempt in range(10):
        path = tmp_path / f"killed-{attempt}.sqlite3"
        proc = _opener(path)
        time.sleep(rng.uniform(0.05, 0.6))  # the interpreter starts, then the migration runs
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        assert _version(path) == SCHEMA_VERSION, attempt
