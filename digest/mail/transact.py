"""One SMTP mail transaction (MAIL, RCPT, DATA) for bytes already in DATA's wire form.

aiosmtplib's `sendmail` rewrites every message before DATA: one regex pass for line ends when
the server announces SIZE, another for line ends and a third for dot-stuffing when it sends.
On a 32 KB digest of base64 lines that was about 40% of the raw client's CPU per message in
bench/deliver.py, and it changes nothing in bytes that are already CRLF lines with no line
starting with a dot. `mail.wire.in_wire_form` tells such bytes apart cheaply,
`mail.wire.wire_form` brings any other bytes into that form exactly as aiosmtplib would, and
`transact` runs the transaction through aiosmtplib's own commands (`mail`, `rcpt`, `rset`,
`execute_command`, the protocol's `write` and `read_response`), so TLS, timeouts, replies and
errors stay aiosmtplib's.
"""

from __future__ import annotations

import contextlib
import functools

import aiosmtplib
from aiosmtplib.email import parse_address


async def transact(
    smtp: aiosmtplib.SMTP, sender: str, rcpts: list[str], data: bytes, size: int
) -> tuple[dict[str, aiosmtplib.SMTPResponse], str]:
    """`smtp.sendmail(sender, rcpts, ...)` for `data` already in wire form (`mail.wire.wire_form`):
    the same commands, options, return value and exceptions, without rewriting the bytes."""
    _checked(sender)  # sendmail checks every address before the first command
    for rcpt in rcpts:
        parse_address(rcpt)
    if smtp.is_ehlo_or_helo_needed:  # SIZE is known only after EHLO
        try:
            await smtp.ehlo()
        except aiosmtplib.SMTPHeloError:
            await smtp.helo()
    options = [f"size={size}"] if smtp.supports_extension("size") else []
    try:
        await smtp.mail(sender, options=options)
        refused: dict[str, aiosmtplib.SMTPResponse] = {}
        errors: list[aiosmtplib.SMTPRecipientRefused] = []
        for rcpt in rcpts:
            try:
                await smtp.rcpt(rcpt)
            except aiosmtplib.SMTPRecipientRefused as exc:
                errors.append(exc)
                refused[rcpt] = aiosmtplib.SMTPResponse(exc.code, exc.message)
        if len(errors) == len(rcpts):
            raise aiosmtplib.SMTPRecipientsRefused(errors)
        reply = await _data(smtp, data)
    except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
        with contextlib.suppress(ConnectionError, aiosmtplib.SMTPResponseException):
            await smtp.rset()
        raise
    return refused, reply.message


@functools.lru_cache(maxsize=16)
def _checked(address: str) -> str:
    """`parse_address(address)`, once per address: every digest of a run has one sender."""
    return parse_address(address)


async def _data(smtp: aiosmtplib.SMTP, data: bytes) -> aiosmtplib.SMTPResponse:
    """DATA, then `data` and the closing dot as they are; the server's final reply."""
    start = await smtp.execute_command(b"DATA")
    if start.code != aiosmtplib.SMTPStatus.start_input:
        raise aiosmtplib.SMTPDataError(start.code, start.message)
    protocol = smtp.protocol
    if protocol is None:
        raise aiosmtplib.SMTPServerDisconnected("Connection lost")
    try:
        protocol.write(data + b".\r\n")
        reply = await protocol.read_response(timeout=smtp.timeout)
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
        smtp.close()
        raise
    if reply.code != aiosmtplib.SMTPStatus.completed:
        raise aiosmtplib.SMTPDataError(reply.code, reply.message)
    return reply
