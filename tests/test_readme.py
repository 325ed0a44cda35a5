"""The README's offline commands run as written, so the quickstart never rots."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from email import message_from_bytes, policy
from pathlib import Path

from tests.conftest import ROOT


def _quickstart() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quickstart", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block, "README quickstart has a bash block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_quickstart_has_install_dry_run_and_test_commands() -> None:
    """The quickstart is one install, one offline dry-run and the test command CI runs."""
    lines = _quickstart()
    assert lines[0].startswith("python -m pip install")
    assert any(line.startswith("digest run") and "--dry-run" in line for line in lines)
    test_command = lines[-1]
    assert test_command.startswith("python -m pytest")
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_quickstart_dry_run_works_offline_and_changes_nothing_else(tmp_path: Path) -> None:
    """The README's dry-run command, run in a copy of the checkout's examples, writes one
    parseable .eml per subscriber, creates no state and leaves every other file untouched."""
    shutil.copytree(
        ROOT / "examples", tmp_path / "examples", ignore=shutil.ignore_patterns("outbox", "state")
    )
    before = _tree(tmp_path)
    commands = [line for line in _quickstart() if line.startswith("digest ")]
    assert commands
    for line in commands:
        argv = [sys.executable, "-m", "digest", *shlex.split(line)[1:]]
        done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "written" in done.stdout
    after = _tree(tmp_path)
    created = sorted(set(after) - set(before))
    assert created and all(name.startswith("examples/outbox/") for name in created)
    assert all(after[name] == before[name] for name in before)
    assert not (tmp_path / "examples" / "state").exists()
    for name in created:
        msg = message_from_bytes(after[name], policy=policy.default)
        assert msg.get_content_type() == "multipart/alternative"
    assert len(created) == 3


def test_every_command_has_help() -> None:
    """`digest --help` and each subcommand's --help exit 0 with a description."""
    out = subprocess.run(
        [sys.executable, "-m", "digest", "--help"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and "Paper Digest" in out.stdout
    commands = re.findall(r"^\s{2}(\w[\w-]*)\s", out.stdout.split("Commands:", 1)[1], re.M)
    assert "run" in commands
    for command in commands:
        sub = subprocess.run(
            [sys.executable, "-m", "digest", command, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sub.returncode == 0 and "--config" in sub.stdout
