"""SMTP delivery against a real aiosmtpd server in the test's event loop: reuse, bounded
concurrency, retries on 451, drops and stalls, permanent 550s, STARTTLS policy, pacing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from email.message import EmailMessage

import pytest

from digest.errors import DeliveryError
from digest.mail.deliver import SmtpOutbox
from tests.servers import LoopSmtp
from tests.virtual_clock import VirtualClock


@pytest.fixture
async def sink() -> AsyncIterator[LoopSmtp]:
    """An aiosmtpd server on loopback in this test's event loop."""
    server = await LoopSmtp().start()
    yield server
    await server.stop()


def _message(to: str, n: int = 0) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Paper Digest <digest@example.org>"
    msg["To"] = to
    msg["Subject"] = f"digest {n}"
    msg["Message-ID"] = f"<m{n}@example.org>"
    msg.set_content("hello\n" * 20)
    return msg


def _outbox(sink: LoopSmtp, **kw: object) -> SmtpOutbox:
    options: dict[str, object] = {"timeout": 5.0, "retries": 3, "backoff": 0.05, "connections": 1}
    options.update(kw)
    return SmtpOutbox(host="127.0.0.1", port=sink.port, security="none", **options)  # type: ignore[arg-type]


async def test_one_connection_carries_many_messages(sink: LoopSmtp) -> None:
    """Five messages over a one-connection pool use a single SMTP session."""
    async with _outbox(sink) as outbox:
        for n in range(5):
            await outbox.send(_message(f"r{n}@example.org", n))
    assert len(sink.received) == 5
    assert sink.connections == 1


async def test_concurrency_is_bounded_by_connections(sink: LoopSmtp) -> None:
    """Twelve concurrent sends over two connections never have more than two DATA phases at once."""
    sink.handler.data_delay = 0.05
    async with _outbox(sink, connections=2) as outbox:
        await asyncio.gather(*(outbox.send(_message(f"r{n}@example.org", n)) for n in range(12)))
    assert len(sink.received) == 12
    assert sink.handler.max_active == 2
    assert sink.connections == 2


async def test_451_is_retried_until_accepted(sink: LoopSmtp) -> None:
    """Two 451 replies then acceptance: the message is delivered once, on the third try."""
    sink.handler.tempfail["slow@example.org"] = 2
    async with _outbox(sink) as outbox:
        reply = await outbox.send(_message("slow@example.org"))
    assert "queued" in reply
    assert [r.rcpt_tos for r in sink.received] == [["slow@example.org"]]


async def test_451_beyond_the_retry_budget_is_a_temporary_failure(sink: LoopSmtp) -> None:
    """A recipient that keeps answering 451 fails after retries+1 attempts, not permanently."""
    sink.handler.tempfail["slow@example.org"] = 99
    async with _outbox(sink, retries=2) as outbox:
        with pytest.raises(DeliveryError) as info:
            await outbox.send(_message("slow@example.org"))
    assert not info.value.permanent
    assert "after 3 attempts" in str(info.value) and "451" in str(info.value)
    assert sink.handler.tempfail["slow@example.org"] == 96


async def test_550_is_permanent_and_quotes_the_server(sink: LoopSmtp) -> None:
    """A 550 is not retried and the error carries the server's words; others still go."""
    sink.handler.reject["gone@example.org"] = "550 5.1.1 mailbox gone"
    async with _outbox(sink) as outbox:
        with pytest.raises(DeliveryError) as info:
            await outbox.send(_message("gone@example.org"))
        await outbox.send(_message("ok@example.org"))
    assert info.value.permanent
    assert "550 5.1.1 mailbox gone" in str(info.value)
    assert [r.rcpt_tos for r in sink.received] == [["ok@example.org"]]


async def test_connection_dropped_mid_data_reconnects_and_delivers_once(sink: LoopSmtp) -> None:
    """When the server hangs up during DATA, the outbox reconnects and the message arrives once."""
    sink.handler.drop_data = 1
    async with _outbox(sink) as outbox:
        await outbox.send(_message("a@example.org"))
        await outbox.send(_message("b@example.org", 1))
    assert [r.rcpt_tos for r in sink.received] == [["a@example.org"], ["b@example.org"]]
    assert sink.connections == 2


async def test_stalled_server_times_out_and_is_reported(sink: LoopSmtp) -> None:
    """A server that never answers DATA hits the command timeout; after the retries the send
    fails as temporary (the papers stay unsent)."""
    sink.handler.data_delay = 5
    async with _outbox(sink, timeout=0.3, retries=1) as outbox:
        started = time.monotonic()
        with pytest.raises(DeliveryError) as info:
            await outbox.send(_message("a@example.org"))
    assert not info.value.permanent
    assert time.monotonic() - started < 4
    assert sink.received == []


async def test_starttls_is_required_when_configured(sink: LoopSmtp) -> None:
    """security = "starttls" against a server that does not offer it fails permanently, never
    falling back to plain text."""
    outbox = SmtpOutbox(host="127.0.0.1", port=sink.port, security="starttls", timeout=5, retries=0)
    async with outbox:
        with pytest.raises(DeliveryError) as info:
            await outbox.send(_message("a@example.org"))
    assert info.value.permanent and "STARTTLS" in str(info.value)
    assert sink.received == []


async def test_max_per_minute_paces_sends(sink: LoopSmtp) -> None:
    """At 120 per minute, four messages take at least 1.5 s between first and last (on a
    virtual clock: the pacing waits are asked for, not slept)."""
    clock = VirtualClock()
    async with _outbox(
        sink, max_per_minute=120, connections=4, clock=clock, sleep=clock.sleep
    ) as outbox:
        started = clock()
        await asyncio.gather(*(outbox.send(_message(f"r{n}@example.org", n)) for n in range(4)))
    assert clock() - started >= 1.45
    assert len(sink.received) == 4
    assert clock.slept == pytest.approx([0.5, 0.5, 0.5])
