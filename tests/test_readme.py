"""The README's offline commands run as written, and so do those of the docs' getting-started
page (the first bash block under "## Try it offline", its cron line and systemd unit), so
neither the quickstart nor the first page a new user reads ever rots."""

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


GETTING_STARTED = ROOT / "docs" / "getting-started.md"


def _first_bash_block(page: Path, heading: str) -> list[str]:
    """The non-empty lines of the first bash block under `heading` on `page`."""
    text = page.read_text(encoding="utf-8")
    assert f"\n{heading}\n" in text, f"{page.name} has a {heading!r} heading"
    section = text.split(f"\n{heading}\n", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block, f"{page.name}: {heading!r} has a bash block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def _quickstart() -> list[str]:
    return _first_bash_block(ROOT / "README.md", "## Quickstart")


def _offline() -> list[str]:
    """The docs' offline commands: the convention is the first bash block under
    "## Try it offline" on the getting-started page (a comment there says so)."""
    return _first_bash_block(GETTING_STARTED, "## Try it offline")


def _run_offline(lines: list[str], folder: Path) -> tuple[dict[str, bytes], list[str]]:
    """Run each `digest ...` line as written in a copy of the checkout's examples under
    `folder`; check they exit 0, create no state and change no file; return the created
    files and each command's stdout."""
    shutil.copytree(
        ROOT / "examples", folder / "examples", ignore=shutil.ignore_patterns("outbox", "state")
    )
    before = _tree(folder)
    commands = [line for line in lines if line.startswith("digest ")]
    assert commands
    outputs = []
    for line in commands:
        argv = [sys.executable, "-m", "digest", *shlex.split(line)[1:]]
        done = subprocess.run(argv, cwd=folder, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, line + "\n" + done.stdout + done.stderr
        outputs.append(done.stdout)
    after = _tree(folder)
    created = sorted(set(after) - set(before))
    assert all(name.startswith("examples/outbox/") for name in created), created
    assert all(after[name] == before[name] for name in before)
    assert not (folder / "examples" / "state").exists()
    return {name: after[name] for name in created}, outputs


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
    created, outputs = _run_offline(_quickstart(), tmp_path)
    assert all("written" in out for out in outputs)
    for data in created.values():
        msg = message_from_bytes(data, policy=policy.default)
        assert msg.get_content_type() == "multipart/alternative"
    assert len(created) == 3


def test_getting_started_offline_commands_run_and_change_nothing_else(tmp_path: Path) -> None:
    """The docs' "Try it offline" commands (which include the README's dry-run) run as
    written with no network or secrets, write only into examples/outbox/ (a parseable .eml
    per subscriber among them) and create no state."""
    lines = _offline()
    readme_dry_runs = [line for line in _quickstart() if line.startswith("digest ")]
    assert set(readme_dry_runs) <= set(lines), "the docs repeat the README's dry-run"
    created, _ = _run_offline(lines, tmp_path)
    emails = [
        message_from_bytes(data, policy=policy.default)
        for name, data in created.items()
        if name.endswith(".eml")
    ]
    assert len(emails) >= 3
    assert all(msg.get_content_type() == "multipart/alternative" for msg in emails)


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
    text = GETTING_STARTED.read_text(encoding="utf-8")
    return re.findall(rf"```{kind}\n(.*?)```", text, re.DOTALL)


def _as_here(command: str) -> list[str]:
    """A getting-started command for /opt/paper-digest, pointed at this checkout and the demo config,
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
