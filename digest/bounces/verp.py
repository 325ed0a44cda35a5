"""VERP envelope senders: ``bounces+TOKEN@domain``, the token a signed tag of the
subscriber's address, so a bounce names its subscriber even when its body does not; pure."""

from __future__ import annotations

from collections.abc import Iterable
from email.message import Message
from email.utils import getaddresses

from digest.web.tokens import BOUNCE, mark

LOCAL = "bounces"
# where the address a bounce was delivered to shows in it: the DSN's To, or what the
# receiving server added
HEADERS = ("To", "Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "Return-Path")


def address(secret: bytes, email: str, domain: str) -> str:
    """The envelope sender for digests to `email`."""
    return f"{LOCAL}+{mark(secret, BOUNCE, email.casefold())}@{domain}"


class Verp:
    """Reads VERP addresses back into the subscribers they were made for."""

    def __init__(self, secret: bytes, domain: str, emails: Iterable[str]) -> None:
        self.domain = domain.casefold()
        self.by_token = {mark(secret, BOUNCE, e.casefold()): e for e in emails}

    def subscriber(self, message: Message) -> str | None:
        """The subscriber whose VERP address `message` was delivered to, if any."""
        values = [str(v) for h in HEADERS for v in (message.get_all(h) or [])]
        for _, addr in getaddresses(values):
            local, _, domain = addr.casefold().rpartition("@")
            head, plus, token = local.partition("+")
            if domain == self.domain and head == LOCAL and plus and token in self.by_token:
                return self.by_token[token]
        return None
