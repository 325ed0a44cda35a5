"""Run the real CLI entry point in-process and capture what it prints and its exit code."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from digest.cli import main


@dataclass
class CliResult:
    """Exit code and output of one CLI call."""

    code: int
    out: str
    err: str


def run_cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> CliResult:
    """Call `digest ARGS...` through the console entry point."""
    capsys.readouterr()
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    else:  # pragma: no cover - main always exits
        code = 0
    captured = capsys.readouterr()
    return CliResult(code=code, out=captured.out, err=captured.err)


PAPER_LINK = re.compile(r'href="(https://arxiv\.org/[^"]+)"')


def paper_links(html: str) -> list[str]:
    """Every paper link in a digest's HTML part, in order."""
    return PAPER_LINK.findall(html)


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    """Poll `predicate` every 10 ms until it holds (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False
