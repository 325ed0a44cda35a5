"""Bounces pause dead addresses: a 5xx (or enough 4xx) at RCPT TO during a send, or a bounce
message read from a real IMAP server (Dovecot); paused addresses are listed, skipped and
resumed; VERP envelope senders name the subscriber; nothing else counts as a bounce."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from digest.models import Bounce
from digest.store import Store
from tests.cli_helpers import run_cli
from tests.conftest import LISTINGS, write_config
from tests.imap_server import ImapServer
from tests.servers import SmtpServer

pytestmark = pytest.mark.slow  # runs the CLI against loopback servers
ADA = {"name": "Ada", "email": "ada@example.org", "keywords": ["network"]}
GONE = {"name": "Gone", "email": "gone@example.org", "keywords": ["learning"]}
DAY1 = "2025-09-15T07:30:00+00:00"
DAY2 = "2025-09-16T07:30:00+00:00"
DAY3 = "2025-09-17T07:30:00+00:00"


def _config(tmp_path: Path, port: int, extra: str = "") -> Path:
    """Two subscribers, the two seed days as one local listing each (day 2 replaces day 1)."""
    listing = tmp_path / "listing.xml"
    listing.write_bytes((LISTINGS / "day1.xml").read_bytes())
    return write_config(
        tmp_path,
        sources=[("day", str(listing))],
        subscribers=[ADA, GONE],
        smtp_port=port,
        extra=extra + "\n[ranking]\nsemantic = false\n",
    )


def _next_day(config: Path) -> None:
    """The listing moves on to day 2 (new papers for everyone)."""
    (config.parent / "listing.xml").write_bytes((LISTINGS / "day2.xml").read_bytes())


def test_a_5xx_at_rcpt_pauses_the_address_until_it_is_resumed(
    tmp_path: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 550 5.1.1 at RCPT TO fails that digest and pauses the address (hard bounce); the
    next run skips it and says why, `subscribers` and `status` list it with the status code
    and date; `subscribers resume` lifts it and the next run mails it again."""
    config = _config(tmp_path, smtp_server.port)
    smtp_server.handler.reject["gone@example.org"] = "550 5.1.1 <gone@example.org>: no mailbox"
    first = run_cli(capsys, "run", "--config", config, "--now", DAY1)
    assert first.code == 1
    assert "now paused (hard bounce 5.1.1 on 2025-09-15)" in first.out
    assert "paused: 1 (hard bounce 5.1.1 on 2025-09-15)" in first.out
    assert [r.rcpt_tos for r in smtp_server.received] == [["ada@example.org"]]

    listed = run_cli(capsys, "subscribers", "--config", config)
    assert "Gone <gone@example.org>: paused (hard bounce 5.1.1 on 2025-09-15)" in listed.out
    assert "Ada <ada@example.org>: active" in listed.out
    shown = run_cli(capsys, "status", "--config", config)
    assert "PAUSED: hard bounce 5.1.1 on 2025-09-15" in shown.out

    smtp_server.handler.reject.clear()  # the address works again; it stays paused all the same
    _next_day(config)
    second = run_cli(capsys, "run", "--config", config, "--now", DAY2)
    assert second.code == 0, second.out + second.err
    assert "paused: 1 (hard bounce 5.1.1 on 2025-09-15)" in second.out
    assert "digest subscribers resume gone@example.org" in second.out
    assert [r.rcpt_tos for r in smtp_server.received] == [["ada@example.org"]] * 2

    resumed = run_cli(capsys, "subscribers", "resume", "gone@example.org", "--config", config)
    assert resumed.code == 0 and "resumed" in resumed.out
    again = run_cli(capsys, "subscribers", "resume", "gone@example.org", "--config", config)
    assert again.code == 1 and "was not paused" in again.err
    stranger = run_cli(capsys, "subscribers", "resume", "nobody@example.org", "--config", config)
    assert stranger.code == 1 and "not a subscriber of" in stranger.err
    third = run_cli(capsys, "run", "--config", config, "--now", DAY3)
    assert third.code == 0 and "paused:" not in third.out
    assert smtp_server.received[-1].rcpt_tos == ["gone@example.org"]


def test_soft_bounces_pause_only_past_the_limit(
    tmp_path: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 451 at RCPT TO that outlasts the retries is a soft bounce: counted, not paused,
    until soft_limit of them fall within soft_days; a dry-run counts none."""
    config = _config(tmp_path, smtp_server.port, "\n[bounces]\nsoft_limit = 2\n")
    smtp_server.handler.tempfail["gone@example.org"] = 10**6
    dry = run_cli(capsys, "run", "--config", config, "--now", DAY1, "--dry-run")
    assert dry.code == 0
    first = run_cli(capsys, "run", "--config", config, "--now", DAY1)
    assert first.code == 1 and "451 4.3.0" in first.out and "paused" not in first.out
    _next_day(config)
    second = run_cli(capsys, "run", "--config", config, "--now", DAY2)
    assert second.code == 1
    assert "now paused (2 soft bounces in 14 days, the last 4.3.0 on 2025-09-16)" in second.out
    listed = run_cli(capsys, "subscribers", "--json", "--config", config)
    gone = [s for s in json.loads(listed.out) if s["email"] == "gone@example.org"]
    assert gone[0]["state"] == "paused" and gone[0]["status"] == "4.3.0"


def test_the_store_keeps_bounces_once_and_pauses_by_the_rules(store_url: str) -> None:
    """On SQLite and PostgreSQL: a bounce seen twice counts once, soft bounces outside the
    window do not count, a hard one pauses at once, resume forgets them all."""
    store = Store(store_url)
    now = datetime(2026, 12, 3, 9, tzinfo=UTC)
    try:

        def soft(ref: str, at: datetime) -> object:
            bounce = Bounce("Slow@Example.org", "soft", "4.2.2", "dsn", ref)
            return store.record_bounce(bounce, now=at, soft_limit=3, soft_days=14)

        assert soft("<a@mx>", now - timedelta(days=20)) is None  # outside the window later
        assert soft("<b@mx>", now - timedelta(days=2)) is None
        assert soft("<b@mx>", now - timedelta(days=1)) is None  # the same bounce again
        assert soft("<c@mx>", now - timedelta(days=1)) is None  # two in the window
        pause = soft("<d@mx>", now)
        assert pause is not None and pause.reason == "3 soft bounces in 14 days, the last 4.2.2"
        hard = Bounce("gone@example.org", "hard", "5.1.1", "smtp", "<digest-1@x>")
        made = store.record_bounce(hard, now=now, soft_limit=3, soft_days=14)
        assert made is not None and made.describe() == "hard bounce 5.1.1 on 2026-12-03"
        assert store.record_bounce(hard, now=now, soft_limit=3, soft_days=14) is None
        assert set(store.paused()) == {"slow@example.org", "gone@example.org"}
        assert store.resume("SLOW@example.org") and not store.resume("slow@example.org")
        assert soft("<e@mx>", now) is None  # a fresh start after resume
        assert set(store.paused()) == {"gone@example.org"}
    finally:
        store.close()


def test_status_codes_come_from_the_reply_or_its_code() -> None:
    """The enhanced status code a refusal starts with, else the reply code."""
    from digest.mail.smtp_failures import status_code

    assert status_code(550, "5.1.1 <x@y>: no mailbox") == "5.1.1"
    assert status_code(550, "No such user") == "550"
    assert status_code(451, "") == "451"
    assert re.fullmatch(r"\d\.\d\.\d", status_code(452, "4.2.2 mailbox full"))


BOUNCES = Path(__file__).resolve().parent / "data" / "bounces"
# what each sample is, read against the subscribers of _lab_config: (kind or None, status)
SAMPLES = {
    "postfix_hard.eml": ("gone@lab.example", "hard", "5.1.1"),
    "exim_hard.eml": ("left@lab.example", "hard", "5.0.0"),
    "exim_dsn.eml": ("moved@lab.example", "hard", "5.0.0"),
    "gmail_hard.eml": ("nobody-here@lab.example", "hard", "5.1.1"),
    "qmail_hard.eml": ("dead@lab.example", "hard", "5.0.0"),
    "soft_full.eml": ("full@lab.example", "soft", "4.2.2"),
    "delayed.eml": (None, "not a bounce", ""),
    "stranger.eml": (None, "not a subscriber", ""),
    "autoreply.eml": (None, "not a bounce", ""),
    "garbage_dsn.eml": (None, "not a bounce", ""),
    "plain_mail.eml": (None, "not a bounce", ""),
}
LAB = [
    {"name": n.split("@")[0], "email": n, "keywords": ["learning"]}
    for n in sorted({e for e, _, _ in SAMPLES.values() if e} | {"ada@lab.example"})
]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_bounce_format_is_read_for_what_it_is(name: str) -> None:
    """Postfix, Exim (DSN and classic), Gmail and qmail bounces name their subscriber, hard
    or soft by the DSN's own Action and Status; a delay warning, an auto-reply, a bounce for
    a stranger, a garbled DSN and a plain mail count for nothing."""
    from digest.bounces.parse import read_bounce

    subscribers = {s["email"]: s["email"] for s in LAB}
    email, kind, status = SAMPLES[name]
    reading = read_bounce((BOUNCES / name).read_bytes(), subscribers, None)
    if email is None:
        assert reading.bounces == () and reading.ignored and reading.ignored.startswith(kind)
        return
    assert [(b.email, b.kind, b.status, b.via) for b in reading.bounces] == [
        (email, kind, status, "dsn")
    ]


def _lab_config(tmp_path: Path, smtp: SmtpServer, imap: ImapServer, bounces: str = "") -> Path:
    """The lab's subscribers, a bounce mailbox on the Dovecot server, a store a run made."""
    config = write_config(
        tmp_path,
        sources=[("day", str(LISTINGS / "day1.xml"))],
        subscribers=LAB,
        smtp_port=smtp.port,
        extra=(
            "\n[ranking]\nsemantic = false\n"
            f'\n[bounces]\nhost = "{imap.host}"\nport = {imap.port}\nsecurity = "none"\n'
            f'username = "{imap.user}"\npassword_env = "DIGEST_TEST_IMAP"\n{bounces}'
        ),
    )
    return config


@pytest.fixture
def _imap_password(monkeypatch: pytest.MonkeyPatch, imap_server: ImapServer) -> None:
    monkeypatch.setenv("DIGEST_TEST_IMAP", imap_server.password)


@pytest.mark.usefixtures("_imap_password")
def test_bounces_read_from_imap_pause_and_are_flagged_processed(
    tmp_path: Path,
    smtp_server: SmtpServer,
    imap_server: ImapServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`digest bounces` reads every sample from a real IMAP server once: five hard bounces
    pause their subscribers, the soft one is counted, the rest are ignored without failing;
    each message gets the $DigestProcessed keyword (none deleted), a second reading finds
    nothing new, and the next run skips the paused and says why."""
    config = _lab_config(tmp_path, smtp_server, imap_server)
    before = run_cli(capsys, "bounces", "--config", config)
    assert before.code == 0 and "not read: no run has created the store yet" in before.out
    assert run_cli(capsys, "run", "--config", config, "--now", DAY1).code == 0
    for name in sorted(SAMPLES):
        imap_server.append("INBOX", (BOUNCES / name).read_bytes())
    read = run_cli(capsys, "bounces", "--config", config)
    assert read.code == 0, read.out + read.err
    assert "bounces: 11 messages read: 5 hard, 1 soft, 5 ignored" in read.out
    assert "paused gone@lab.example: hard bounce 5.1.1 on " in read.out
    assert "ignored message" in read.out and ": not a subscriber (1 address(es))" in read.out
    assert imap_server.count("INBOX") == 11
    assert all("$DigestProcessed" in f for f in imap_server.flags("INBOX"))
    again = run_cli(capsys, "bounces", "--config", config)
    assert "bounces: 0 messages read" in again.out
    listed = run_cli(capsys, "subscribers", "--json", "--config", config)
    states = {s["email"]: s for s in json.loads(listed.out)}
    assert states["gone@lab.example"]["state"] == "paused"
    assert states["gone@lab.example"]["status"] == "5.1.1"
    assert states["full@lab.example"]["state"] == "active"  # one soft bounce of five
    assert states["ada@lab.example"]["state"] == "active"
    sent_before = len(smtp_server.received)
    rerun = run_cli(capsys, "run", "--config", config, "--now", DAY2)
    assert "paused: 5 (" in rerun.out
    paused_now = {e for e, s in states.items() if s["state"] == "paused"}
    assert not {r.rcpt_tos[0] for r in smtp_server.received[sent_before:]} & paused_now


@pytest.mark.usefixtures("_imap_password")
def test_processed_bounces_can_move_to_another_folder(
    tmp_path: Path,
    smtp_server: SmtpServer,
    imap_server: ImapServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """processed = "move" creates the folder and moves each message read into it; a move the
    server refuses leaves the message unmarked where it was, and the next reading moves it
    (its bounce counted once)."""
    config = _lab_config(
        tmp_path, smtp_server, imap_server, 'processed = "move"\nmove_to = "Done/bounces"\n'
    )
    assert run_cli(capsys, "run", "--config", config, "--now", DAY1).code == 0
    imap_server.append("INBOX", (BOUNCES / "postfix_hard.eml").read_bytes())
    refused = run_cli(capsys, "bounces", "--config", config)
    assert refused.code == 1 and "Done/bounces" in refused.err, refused.out + refused.err
    assert imap_server.flags("INBOX") == [set()]
    config.write_text(config.read_text().replace("Done/bounces", "Done bounces"))
    imap_server.append("INBOX", (BOUNCES / "plain_mail.eml").read_bytes())
    read = run_cli(capsys, "bounces", "--config", config)
    assert "2 messages read: 1 hard, 0 soft, 1 ignored" in read.out
    assert imap_server.count("INBOX") == 0 and imap_server.count("Done bounces") == 2


@pytest.mark.usefixtures("_imap_password")
def test_verp_names_the_subscriber_when_the_bounce_does_not(
    tmp_path: Path,
    smtp_server: SmtpServer,
    imap_server: ImapServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With verp_domain each digest's envelope sender is bounces+TAG@domain; a bounce sent
    back to that address pauses its subscriber even when its body names another address (a
    forward), and an auto-reply to it pauses no one."""
    from digest.bounces.verp import address
    from tests.web_helpers import SECRET, web_config

    config = web_config(
        tmp_path,
        smtp_server.port,
        extra=(
            f'\n[bounces]\nhost = "{imap_server.host}"\nport = {imap_server.port}\n'
            f'security = "none"\nusername = "{imap_server.user}"\n'
            'password_env = "DIGEST_TEST_IMAP"\nverp_domain = "bounce.example.org"\n'
        ),
    )
    env = pytest.MonkeyPatch()
    env.setenv("DIGEST_TEST_SECRET", SECRET)
    try:
        assert run_cli(capsys, "run", "--config", config, "--now", DAY1).code == 0
        verp = address(SECRET.encode(), "ada@example.org", "bounce.example.org")
        senders = {r.rcpt_tos[0]: r.mail_from for r in smtp_server.received}
        assert senders["ada@example.org"] == verp
        assert senders["bob@example.org"].startswith("bounces+") and verp.startswith("bounces+")
        assert smtp_server.received[0].message["From"].addresses[0].addr_spec.startswith("digest@")
        bounce = (
            (BOUNCES / "postfix_hard.eml")
            .read_bytes()
            .replace(b"digest@lab.example", verp.encode())
        )
        reply = (
            (BOUNCES / "autoreply.eml").read_bytes().replace(b"digest@lab.example", verp.encode())
        )
        imap_server.append("INBOX", bounce)
        imap_server.append("INBOX", reply)
        read = run_cli(capsys, "bounces", "--config", config)
        assert "2 messages read: 1 hard, 0 soft, 1 ignored" in read.out, read.out + read.err
        assert "paused ada@example.org: hard bounce 5.1.1" in read.out
    finally:
        env.undo()


def test_an_unreachable_mailbox_or_a_wrong_password_is_one_line(
    tmp_path: Path,
    smtp_server: SmtpServer,
    imap_server: ImapServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A refused login, TLS spoken to a plain port and a port nobody answers end `digest
    bounces` with exit 1 and one line naming the mailbox (no summary before it); an unset
    password variable is a config error (exit 2); `digest check` says each of them."""
    from tests.web_helpers import free_port

    config = _lab_config(tmp_path, smtp_server, imap_server)
    assert run_cli(capsys, "run", "--config", config, "--now", DAY1).code == 0
    unset = run_cli(capsys, "bounces", "--config", config)
    assert unset.code == 2 and "bounces.password_env" in unset.err
    checked = run_cli(capsys, "check", "--config", config)
    assert checked.code == 1
    assert "failed: bounces.password_env: set the environment variable DIGEST_TEST_IMAP" in (
        checked.out
    )
    monkeypatch.setenv("DIGEST_TEST_IMAP", "wrong")
    wrong = run_cli(capsys, "bounces", "--config", config)
    assert wrong.code == 1 and "login as 'bounces' refused: [AUTHENTICATIONFAILED]" in wrong.err
    assert "messages read" not in wrong.out
    assert "Traceback" not in wrong.out + wrong.err
    checked = run_cli(capsys, "check", "--config", config)
    assert checked.code == 1 and "failed: bounces: bounces: IMAP" in checked.out
    monkeypatch.setenv("DIGEST_TEST_IMAP", imap_server.password)
    checked = run_cli(capsys, "check", "--config", config)
    assert checked.code == 0, checked.out
    assert f"ok: bounces: 127.0.0.1:{imap_server.port} folder 'INBOX': 0 not yet read" in (
        checked.out
    )
    config.write_text(config.read_text().replace('security = "none"', 'security = "tls"'))
    tls = run_cli(capsys, "bounces", "--config", config)
    assert tls.code == 1 and 'use security = "starttls"' in tls.err
    config.write_text(
        config.read_text().replace(f"port = {imap_server.port}", f"port = {free_port()}")
    )
    gone = run_cli(capsys, "bounces", "--config", config)
    assert gone.code == 1 and "bounces: IMAP 127.0.0.1:" in gone.err
    assert "Traceback" not in gone.out + gone.err
