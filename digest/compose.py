"""Build the EmailMessage for a rendered digest: multipart/alternative with safe headers; pure."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from digest.render import Rendered
from digest.sources.text import collapse


def parse_sender(sender: str) -> Address:
    """'Name <addr@host>' or 'addr@host' as an Address the email package will encode."""
    name, addr = parseaddr(sender)
    user, _, domain = addr.rpartition("@")
    return Address(display_name=collapse(name), username=user, domain=domain)


def message_id(*, subscriber: str, day: date, paper_ids: Iterable[str], domain: str) -> str:
    """A Message-ID that is the same whenever the same papers go to the same person that day."""
    key = "\n".join([subscriber.casefold(), day.isoformat(), *sorted(paper_ids)])
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<digest.{digest}@{domain or 'paper-digest.invalid'}>"


def compose(
    rendered: Rendered,
    *,
    sender: str,
    to_name: str,
    to_email: str,
    day: date,
    paper_ids: Iterable[str],
    now: datetime,
    unsubscribe: Sequence[str] = (),
    list_id: str | None = None,
) -> EmailMessage:
    """The message for one subscriber's digest; every header goes through the email package.

    `unsubscribe` URLs (already personalised) become List-Unsubscribe, with
    List-Unsubscribe-Post for one-click when one of them is https (RFC 8058).
    """
    from_addr = parse_sender(sender)
    user, _, domain = to_email.rpartition("@")
    msg = EmailMessage()
    msg["From"] = from_addr
    msg["To"] = Address(display_name=collapse(to_name), username=user, domain=domain)
    msg["Subject"] = collapse(rendered.subject)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id(
        subscriber=to_email, day=day, paper_ids=paper_ids, domain=from_addr.domain
    )
    msg["MIME-Version"] = "1.0"
    msg["List-Id"] = f"Paper Digest <{list_id or 'paper-digest.' + from_addr.domain}>"
    if unsubscribe:
        msg["List-Unsubscribe"] = ", ".join(f"<{collapse(u)}>" for u in unsubscribe)
        if any(u.lower().startswith("https://") for u in unsubscribe):
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(rendered.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg
