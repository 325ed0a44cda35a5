"""The mail transaction for bytes already in wire form sends what aiosmtplib's sendmail sends:
the same DATA bytes, SIZE, refusals and recovery, against a real aiosmtpd server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiosmtplib
import pytest
from aiosmtpd.smtp import Envelope
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings

from digest.mail.transact import transact
from digest.mail.wire import in_wire_form, wire_form
from tests.servers import LoopSmtp

IN_FORM = [
    b"Subject: x\r\n\r\nbody\r\n",
    b"\r\n",
    b"a.b\r\n x.\r\n",
]
NOT_IN_FORM = [
    b"",
    b"Subject: x\r\n\r\nbody",  # no final CRLF
    b"Subject: x\n\nbody\n",  # bare LF
    b"Subject: x\r\n\rbody\r\n",  # bare CR
    b"Subject: x\r\n\r\n.hidden\r\n",  # a line starting with a dot
    b".first line\r\n",
    b"a\r\n\r\r\n",  # CR before CRLF
    b"a\n\r\n",  # LF before CRLF
    b"a\r\n..\r\n",
]
MESSAGES = [
    *IN_FORM,
    *NOT_IN_FORM,
    b"From: a@example.org\nSubject: dots\n\n.\n..\n.a line\nend",
    b"mixed\r\nline\nends\rhere\r\n\r\r\n\n.\r.\r\n",
    b"\xff\x00 binary\r\n.\r\n",
]


@pytest.fixture
async def sink() -> AsyncIterator[LoopSmtp]:
    """An aiosmtpd server on loopback in this test's event loop."""
    server = await LoopSmtp().start()
    yield server
    await server.stop()


def _aiosmtplib_form(data: bytes) -> tuple[bytes, int]:
    normal = normalize_message_line_endings(data)
    return PERIOD_REGEX.sub(b"..", normal), len(normal)


@pytest.mark.parametrize("data", IN_FORM)
def test_crlf_lines_without_leading_dots_are_in_wire_form(data: bytes) -> None:
    """CRLF-terminated lines with no bare CR or LF and no leading dot need no rewriting."""
    assert in_wire_form(data)


@pytest.mark.parametrize("data", NOT_IN_FORM)
def test_anything_else_is_not_in_wire_form(data: bytes) -> None:
    """A missing final CRLF, a bare CR or LF, or a line starting with a dot needs rewriting."""
    assert not in_wire_form(data)


@pytest.mark.parametrize("data", MESSAGES)
def test_wire_form_is_what_aiosmtplib_would_send(data: bytes) -> None:
    """The bytes and SIZE equal aiosmtplib's line-end normalising and dot-stuffing."""
    assert wire_form(data) == _aiosmtplib_form(data)
    assert in_wire_form(data) == (wire_form(data)[0] == data)


async def test_data_and_size_reach_the_server_as_sendmail_sends_them(sink: LoopSmtp) -> None:
    """Every sample message arrives byte-identical, with the same SIZE, as through sendmail."""
    options: list[list[str]] = []

    def note(envelope: Envelope) -> None:
        options.append(list(envelope.mail_options))

    sink.handler.on_data = note
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=sink.port, use_tls=False) as smtp:
        for data in MESSAGES:
            await smtp.sendmail("a@example.org", ["b@example.org"], data)
            refused, reply = await transact(
                smtp, "a@example.org", ["b@example.org"], *wire_form(data)
            )
            assert (refused, reply) == ({}, "2.0.0 queued")
    received = [r.data for r in sink.received]
    assert received[0::2] == received[1::2]
    assert options[0::2] == options[1::2]
    assert [o[0] for o in options[1::2]] == [f"SIZE={wire_form(d)[1]}" for d in MESSAGES]


async def test_a_refused_recipient_is_reported_and_the_others_get_the_message(
    sink: LoopSmtp,
) -> None:
    """One refused recipient of two comes back in the refused map; the other is delivered."""
    sink.handler.reject["gone@example.org"] = "550 5.1.1 no such user"
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=sink.port, use_tls=False) as smtp:
        refused, _ = await transact(
            smtp, "a@example.org", ["gone@example.org", "b@example.org"], *wire_form(b"hi\r\n")
        )
    assert refused == {"gone@example.org": aiosmtplib.SMTPResponse(550, "5.1.1 no such user")}
    assert [r.rcpt_tos for r in sink.received] == [["b@example.org"]]


async def test_refusals_reset_the_session_for_the_next_message(sink: LoopSmtp) -> None:
    """All recipients refused, or DATA refused: the same exceptions as sendmail, then the
    connection carries the next message."""
    sink.handler.reject["gone@example.org"] = "550 5.1.1 no such user"

    def judge(envelope: Envelope) -> str | None:
        return "554 5.6.0 rejected" if b"spam" in (envelope.original_content or b"") else None

    sink.handler.on_data = judge
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=sink.port, use_tls=False) as smtp:
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
            await transact(smtp, "a@example.org", ["gone@example.org"], *wire_form(b"x\r\n"))
        assert refused.value.recipients[0].code == 550
        with pytest.raises(aiosmtplib.SMTPDataError) as data_error:
            await transact(smtp, "a@example.org", ["b@example.org"], *wire_form(b"spam\r\n"))
        assert data_error.value.code == 554
        await transact(smtp, "a@example.org", ["b@example.org"], *wire_form(b"ham\r\n"))
    assert [r.data for r in sink.received] == [b"ham\r\n"]
    assert sink.connections == 1


async def test_a_dropped_connection_during_data_closes_the_client(sink: LoopSmtp) -> None:
    """The server hanging up instead of answering DATA raises SMTPServerDisconnected and
    leaves the client disconnected, as sendmail does."""
    sink.handler.drop_data = 1
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=sink.port, use_tls=False)
    await smtp.connect()
    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        await transact(smtp, "a@example.org", ["b@example.org"], *wire_form(b"x\r\n"))
    assert not smtp.is_connected
    assert sink.received == []


async def test_bad_addresses_fail_before_any_command(sink: LoopSmtp) -> None:
    """An address aiosmtplib would not put on a command line raises ValueError before MAIL,
    as in sendmail, so the session needs no reset for the next message."""
    bad = ["b@example.org", "c d@example.org"]
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=sink.port, use_tls=False) as smtp:
        with pytest.raises(ValueError, match="not permitted"):
            await smtp.sendmail("a@example.org", bad, b"x\r\n")
        with pytest.raises(ValueError, match="not permitted"):
            await transact(smtp, "a@example.org", bad, *wire_form(b"x\r\n"))
        await transact(smtp, "a@example.org", ["b@example.org"], *wire_form(b"ok\r\n"))
    assert [(r.rcpt_tos, r.data) for r in sink.received] == [(["b@example.org"], b"ok\r\n")]
