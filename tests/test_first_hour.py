"""A new user's first hour: `check` tells the truth, a dead relay fails in seconds and says
so once, secrets are asked for only where used, bad keywords and missing drivers are refused
with the fix, and the email's footer and page do not repeat themselves."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import tomllib
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.conftest import LISTINGS, ROOT, write_config
from tests.servers import SmtpServer
from tests.web_helpers import SECRET, web_config

PEOPLE = [{"name": "Ada", "email": "ada@example.org", "keywords": ["network"]}]
DAY1 = "2025-09-15T07:30:00+00:00"


def _config(folder: Path, *, smtp_port: int = 25, extra: str = "") -> Path:
    return write_config(
        folder,
        sources=[("day1", str(LISTINGS / "day1.xml"))],
        subscribers=PEOPLE,
        smtp_port=smtp_port,
        extra=extra + "\n[ranking]\nsemantic = false\n",
    )


def _failed(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("failed: ")]


def test_check_passes_a_sound_config_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A config whose run would work passes every check (exit 0) and `check` leaves no
    store, folder or outbox behind."""
    config = _config(tmp_path)
    result = run_cli(capsys, "check", "--config", config)
    assert result.code == 0, result.out
    for what in ("smtp", "templates", "store", "source day1"):
        assert f"ok: {what}: " in result.out, what
    assert "all checks passed" in result.out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]


def test_check_fails_each_thing_the_next_run_would_fail_on_one_line_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unset SMTP password variable, a missing local feed, a store that cannot be
    created and an unset link secret each give one `failed:` line naming the fix (exit 1);
    without an [smtp] table only a real send fails, not `check --dry-run`."""
    monkeypatch.delenv("DIGEST_TEST_PW", raising=False)
    monkeypatch.delenv("DIGEST_TEST_SECRET", raising=False)
    (tmp_path / "blocker").write_text("a file where the store's folder should be")
    config = _config(tmp_path)
    text = config.read_text().replace('path = "state/digest.sqlite3"', 'path = "blocker/db"')
    text = text.replace(
        "timeout = 10\n", 'timeout = 10\nusername = "u"\npassword_env = "DIGEST_TEST_PW"\n', 1
    )
    text = text.replace(str(LISTINGS / "day1.xml"), str(tmp_path / "missing.xml"))
    text += '\n[web]\nbase_url = "https://digest.example.org"\nsecret_env = "DIGEST_TEST_SECRET"\n'
    config.write_text(text)
    result = run_cli(capsys, "check", "--config", config)
    failed = _failed(result.out)
    assert result.code == 1, result.out
    assert any("smtp.password_env" in f and "DIGEST_TEST_PW" in f for f in failed), failed
    assert any(f.startswith("failed: web.secret_env") for f in failed), failed
    assert any("store" in f and "blocker" in f for f in failed), failed
    assert any("source day1" in f and "missing.xml" in f for f in failed), failed
    assert "4 checks failed" in result.out

    (tmp_path / "bare").mkdir()
    bare = _config(tmp_path / "bare")
    lines = bare.read_text().splitlines()
    start = lines.index("[smtp]")
    end = lines.index("[fetch]")
    bare.write_text("\n".join(lines[:start] + lines[end:]))
    no_smtp = run_cli(capsys, "check", "--config", bare)
    assert no_smtp.code == 1 and any("no [smtp] table" in f for f in _failed(no_smtp.out))
    assert run_cli(capsys, "check", "--config", bare, "--dry-run").code == 0


def test_check_smtp_logs_in_without_sending_and_fails_fast_on_a_dead_relay(
    tmp_path: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """`check --smtp` connects and says EHLO without MAIL FROM (nothing is received); a
    port nobody listens on is one failed line within 10 s."""
    config = _config(tmp_path, smtp_port=smtp_server.port)
    good = run_cli(capsys, "check", "--config", config, "--smtp")
    assert good.code == 0 and "ok: smtp login: 127.0.0.1:" in good.out, good.out
    assert smtp_server.received == []
    (tmp_path / "dead").mkdir()
    dead = _config(tmp_path / "dead", smtp_port=9)
    started = time.monotonic()
    bad = run_cli(capsys, "check", "--config", dead, "--smtp")
    assert bad.code == 1 and time.monotonic() - started < 12
    assert any(f.startswith("failed: smtp login:") for f in _failed(bad.out)), bad.out


def test_status_healthy_is_unhealthy_when_the_store_cannot_be_opened(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A store file that is not a database makes `status --healthy` say unhealthy and exit
    1 (not a traceback, not healthy)."""
    config = _config(tmp_path)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "digest.sqlite3").write_bytes(b"not a database at all" * 100)
    result = run_cli(capsys, "status", "--config", config, "--healthy")
    assert result.code == 1 and result.out.startswith("unhealthy: "), result


def test_a_dead_relay_ends_the_run_in_seconds_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A relay that refuses connections ends the run within 15 s, before ranking, with the
    failure printed once (exit 1); a host name that does not exist is not retried."""
    config = _config(tmp_path, smtp_port=9)
    started = time.monotonic()
    result = run_cli(capsys, "run", "--config", config, "--now", DAY1)
    assert result.code == 1 and time.monotonic() - started < 15
    output = result.out + result.err
    assert output.count("SMTP relay unreachable") == 1, output
    assert "not sent (see the error below)" in result.out
    config.write_text(
        config.read_text().replace('host = "127.0.0.1"', 'host = "no-such-host.invalid"')
    )
    started = time.monotonic()
    dns = run_cli(capsys, "run", "--config", config, "--now", DAY1)
    took = time.monotonic() - started
    assert dns.code == 1 and "no such host name" in dns.out and took < 5, (took, dns.out)


def test_the_link_secret_is_asked_for_only_by_commands_that_sign_or_check_links(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With [web] and no secret set, `status` and `subscribers` work, `check` reports it as
    one failure (exit 1), and `run`, `preview` and `web` refuse (exit 2, web.secret_env)."""
    monkeypatch.delenv("DIGEST_TEST_SECRET", raising=False)
    config = web_config(tmp_path, 25)
    assert run_cli(capsys, "status", "--config", config).code == 0
    assert run_cli(capsys, "subscribers", "--config", config).code == 0
    check = run_cli(capsys, "check", "--config", config, "--dry-run")
    assert check.code == 1 and any("web.secret_env" in f for f in _failed(check.out))
    for argv in (("run", "--dry-run"), ("preview", "--subscriber", "Ada"), ("web",)):
        refused = run_cli(capsys, *argv, "--config", config)
        assert refused.code == 2 and "web.secret_env" in refused.err, (argv, refused)
    monkeypatch.setenv("DIGEST_TEST_SECRET", SECRET)
    assert run_cli(capsys, "check", "--config", config, "--dry-run").code == 0


def test_a_keyword_of_stopwords_only_is_refused_with_its_key_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A keyword made only of stopwords ("the", "of the") is a config error naming the
    subscriber's keywords and the keyword (exit 2); one with a real word is fine."""
    for bad in ("the", "Of The"):
        people = [{"name": "Ada", "email": "ada@example.org", "keywords": ["graphs", bad]}]
        config = write_config(tmp_path, sources=[("d", "d.xml")], subscribers=people)
        result = run_cli(capsys, "check", "--config", config)
        assert result.code == 2 and "keywords" in result.err and repr(bad) in result.err
        assert "stopwords" in result.err
    people = [{"name": "Ada", "email": "ada@example.org", "keywords": ["the web"]}]
    config = write_config(tmp_path, sources=[("d", str(LISTINGS / "day1.xml"))], subscribers=people)
    assert run_cli(capsys, "check", "--config", config, "--dry-run").code == 0


def test_a_postgresql_url_without_its_driver_names_the_install_command(tmp_path: Path) -> None:
    """With psycopg not importable, a postgresql+psycopg store URL exits 2 with one line that
    names store.url and the editable install command of the extra."""
    config = _config(tmp_path)
    config.write_text(
        config.read_text().replace(
            'path = "state/digest.sqlite3"', 'url = "postgresql+psycopg://u@127.0.0.1/db"'
        )
    )
    hide = (
        "import importlib.machinery as m, sys\n"
        "class Hide(m.PathFinder):\n"
        "    @classmethod\n"
        "    def find_spec(cls, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'psycopg':\n"
        "            return None\n"
        "        return m.PathFinder.find_spec(name, path, target)\n"
        "sys.meta_path = [Hide if f is m.PathFinder else f for f in sys.meta_path]\n"
        "from digest.cli import main\n"
        f"main(['status', '--config', {str(config)!r}])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", hide], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "store.url" in lines[0] and "pip install -e '.[postgres]'" in lines[0]


def test_the_footer_has_one_unsubscribe_link_and_the_sample_config_a_real_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With [web] and a mailto: unsubscribe, the digest's footer links one unsubscribe
    address (List-Unsubscribe keeps both); config.example.toml's first source is an arXiv
    category listing and no source there is a placeholder address."""
    monkeypatch.setenv("DIGEST_TEST_SECRET", SECRET)
    config = web_config(tmp_path, 25)
    config.write_text(
        config.read_text().replace(
            'outbox = "outbox"\n', 'outbox = "outbox"\nunsubscribe = ["mailto:leave@example.org"]\n'
        )
    )
    sent = run_cli(capsys, "run", "--config", config, "--dry-run", "--now", DAY1)
    assert sent.code == 0, sent
    eml = next((tmp_path / "outbox").glob("*.eml")).read_bytes()
    message = message_from_bytes(eml, policy=policy.default)
    assert "mailto:leave@example.org" in str(message["List-Unsubscribe"])
    html = message.get_body(("html",))
    plain = message.get_body(("plain",))
    assert html is not None and plain is not None
    footer = str(html.get_content()).split('class="foot"', 1)[1]
    assert len(re.findall(r"<a href=\"[^\"]*(?:/u/|mailto:)", footer)) == 1, footer
    assert str(plain.get_content()).split("To stop it:", 1)[1].count("://") == 1
    example = tomllib.loads((ROOT / "config.example.toml").read_text())
    first = example["sources"][0]
    assert first["type"] == "arxiv" and all("." in c for c in first["categories"])
    assert not any("example.org" in str(s.get("url", "")) for s in example["sources"])
