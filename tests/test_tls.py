"""TLS as configured: STARTTLS and implicit TLS verify the server's certificate, [smtp] ca_file
trusts a private CA, and an untrusted certificate is a permanent failure."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP

from digest.errors import DeliveryError
from digest.mail.deliver import SmtpOutbox
from tests.servers import SmtpHandler

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


def _pki(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it."""
    ca_key, ca_crt = folder / "ca.key", folder / "ca.pem"
    key, csr, crt = folder / "srv.key", folder / "srv.csr", folder / "srv.pem"
    ext = folder / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n")
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)  # noqa: E731
    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca_crt),
        "-days",
        "2",
        "-subj",
        "/CN=Paper Digest test CA",
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(key),
        "-out",
        str(csr),
        "-subj",
        "/CN=localhost",
    )
    run(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca_crt),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-out",
        str(crt),
        "-days",
        "2",
        "-extfile",
        str(ext),
    )
    return ca_crt, crt, key


def _message() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "digest@example.org"
    msg["To"] = "a@example.org"
    msg["Subject"] = "tls"
    msg.set_content("hello")
    return msg


@pytest.fixture
async def servers(tmp_path: Path) -> AsyncIterator[tuple[Path, int, int, SmtpHandler]]:
    """A STARTTLS server and an implicit-TLS server, both with a certificate from a private CA."""
    ca, crt, key = _pki(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(crt, key)
    handler = SmtpHandler()
    loop = asyncio.get_running_loop()
    starttls = await loop.create_server(
        lambda: SMTP(handler, hostname="localhost", tls_context=context, require_starttls=True),
        "127.0.0.1",
        0,
    )
    implicit = await loop.create_server(
        lambda: SMTP(handler, hostname="localhost"), "127.0.0.1", 0, ssl=context
    )
    yield ca, starttls.sockets[0].getsockname()[1], implicit.sockets[0].getsockname()[1], handler
    starttls.close()
    implicit.close()


async def test_private_ca_is_trusted_for_starttls_and_implicit_tls(
    servers: tuple[Path, int, int, SmtpHandler],
) -> None:
    """With the CA from ca_file, both security modes deliver."""
    ca, port_starttls, port_tls, handler = servers
    trust = ssl.create_default_context(cafile=str(ca))
    for security, port in (("starttls", port_starttls), ("tls", port_tls)):
        async with SmtpOutbox(
            host="127.0.0.1", port=port, security=security, tls_context=trust, retries=0
        ) as outbox:
            await outbox.send(_message())
    assert len(handler.received) == 2


async def test_untrusted_certificate_is_refused_permanently(
    servers: tuple[Path, int, int, SmtpHandler],
) -> None:
    """Without the private CA the certificate does not verify: a permanent failure, no fallback."""
    _, port_starttls, port_tls, handler = servers
    for security, port in (("starttls", port_starttls), ("tls", port_tls)):
        async with SmtpOutbox(
            host="127.0.0.1", port=port, security=security, retries=2, backoff=0.01
        ) as outbox:
            with pytest.raises(DeliveryError) as info:
                await outbox.send(_message())
        assert info.value.permanent and "certificate" in str(info.value).lower()
    assert handler.received == []
