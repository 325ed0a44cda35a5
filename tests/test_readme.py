"""The README's offline commands run as written, so the quickstart never rots."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # starts the CLI or servers in processes


def _quickstart() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quickstart", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block, "README quickstart has a bash block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_quickstart_has_install_dry_run_and_test_commands() -> None:
    """The quickstart is a virtualenv, one install, one offline dry-run and the test command
    CI runs."""
    lines = _quickstart()
    assert lines[0].startswith("python3 -m venv .venv")
    assert lines[1].startswith("python -m pip install")
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


def test_quickstart_virtualenv_line_makes_a_venv(tmp_path: Path) -> None:
    """The README's virtualenv line, run by bash, makes a venv with a python in it."""
    line = _quickstart()[0].replace("python3 -m venv", "python3 -m venv --without-pip")
    done = subprocess.run(
        ["bash", "-c", line], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / ".venv" / "bin" / "python").exists()


def _blocks(kind: str) -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(rf"```{kind}\n(.*?)```", text, re.DOTALL)


def _as_here(command: str) -> list[str]:
    """A README command for /opt/paper-digest, pointed at this checkout and the demo config,
    as a dry-run (no network, no state)."""
    argv = shlex.split(command.split(">>")[0])
    assert argv[0] == "/opt/paper-digest/.venv/bin/digest", (
        "cron and systemd need the venv's absolute path"
    )
    args = [
        a.replace("/opt/paper-digest/my.toml", str(ROOT / "examples" / "demo.toml"))
        for a in argv[1:]
    ]
    return [sys.executable, "-m", "digest", *args, "--dry-run"]


def test_cron_line_and_systemd_unit_run(tmp_path: Path) -> None:
    """The crontab line has five schedule fields and a command that runs; the systemd
    service's ExecStart runs; the timer has a calendar and is persistent."""
    (cron,) = _blocks("cron")
    fields = cron.split()
    assert len(fields) > 5 and all(re.fullmatch(r"[\d*,/-]+", f) for f in fields[:5])
    (ini,) = _blocks("ini")
    exec_start = re.search(r"^ExecStart=(.+)$", ini, re.M)
    assert (
        exec_start and "OnCalendar=" in ini and "Persistent=true" in ini and "Type=oneshot" in ini
    )
    for command in (" ".join(fields[5:]), exec_start.group(1)):
        argv = [*_as_here(command), "--outbox", str(tmp_path / "out")]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr


def test_make_listings_rebuilds_the_bundled_listings(tmp_path: Path) -> None:
    """examples/make_listings.py runs from a fresh checkout and rebuilds the sample listings
    byte for byte."""
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "make_listings.py"),
            str(ROOT / "bench" / "data" / "seed_listings.jsonl"),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    for name in ("day1.xml", "day2.xml"):
        assert (tmp_path / name).read_bytes() == (
            ROOT / "examples" / "listings" / name
        ).read_bytes()


def test_compose_file_runs_two_instances_on_the_postgres_service(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """compose.yaml has a postgres service and two digest services on one mounted config,
    and that config loads with its store pointing at the postgres service."""
    from digest.config.load import load_config

    compose = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    services = re.findall(r"^  ([a-z-]+):", compose.split("\nvolumes:")[0], re.MULTILINE)
    assert services == ["postgres", "digest-a", "digest-b"]
    assert "digest-b: *digest" in compose and "image: postgres:15" in compose
    mount = re.search(r"- \./(\S+):/config/config\.toml:ro", compose)
    assert mount is not None
    monkeypatch.setenv("DIGEST_DB_PASSWORD", "x")
    monkeypatch.setenv("DIGEST_SMTP_PASSWORD", "y")
    config = load_config(ROOT / mount.group(1))
    assert config.store_url.startswith("postgresql+psycopg://digest:")
    assert config.store_url.endswith("@postgres/digest")
