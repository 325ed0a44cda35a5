"""What one message in the bounce mailbox says: which subscribers it reports as failed, hard
(permanent) or soft (temporary), with the status code; or why it counts for nothing. The
formats are flufl.bounce's (RFC 3464 DSNs and the common non-standard ones); a DSN's own
Action and Status fields, where it has them, say hard or soft; pure."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from email.policy import compat32

from flufl.bounce import all_failures

from digest.bounces.verp import Verp
from digest.mail.smtp_failures import enhanced_status
from digest.models import Bounce

log = logging.getLogger("digest.bounces")


@dataclass(frozen=True)
class Reading:
    """The bounces one message reports (for subscribers only), or why it reports none."""

    bounces: tuple[Bounce, ...] = ()
    ignored: str | None = None  # "not a bounce", "not a subscriber", ...


def _address(value: bytes | str) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return text.strip().strip("<>").casefold()


def dsn_fields(message: Message) -> dict[str, tuple[str, str | None]]:
    """A DSN's per-recipient fields: address -> (Action, Status) (RFC 3464)."""
    out: dict[str, tuple[str, str | None]] = {}
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        if not isinstance(blocks, list):
            continue
        for block in blocks:
            if not isinstance(block, Message):
                continue
            rcpt = block.get("Final-Recipient") or block.get("Original-Recipient")
            if not rcpt:
                continue
            addr = _address(str(rcpt).split(";", 1)[-1])
            if "@" in addr:
                action = str(block.get("Action", "")).strip().casefold()
                out[addr] = (action, enhanced_status(str(block.get("Status", ""))))
    return out


def _failures(
    message: Message, dsn: dict[str, tuple[str, str | None]]
) -> tuple[set[str], set[str]]:
    """(hard, soft) addresses the message reports as failed (`dsn`: its DSN fields)."""
    try:
        temporary, permanent = all_failures(message)
    except Exception:  # a parser meeting hostile input: the message counts for nothing
        log.debug("flufl.bounce could not read a message", exc_info=True)
        temporary, permanent = frozenset(), frozenset()
    hard = {_address(a) for a in permanent}
    soft = {_address(a) for a in temporary} - hard
    for addr, (action, status) in dsn.items():
        if action == "failed":  # the DSN says it: 4.x.x failed is soft, 5.x.x hard
            (soft if status and status.startswith("4") else hard).add(addr)
            (hard if status and status.startswith("4") else soft).discard(addr)
        elif action in ("delayed", "delivered", "relayed", "expanded"):
            hard.discard(addr)  # still being retried, or no failure at all
            soft.discard(addr)
    return {a for a in hard if "@" in a}, {a for a in soft if "@" in a}


def reference(message: Message, data: bytes) -> str:
    """What names this bounce message: its Message-ID, else a digest of its bytes."""
    mid = str(message.get("Message-ID", "")).strip()
    return mid[:255] if mid else "sha256:" + hashlib.sha256(data).hexdigest()


def read_bounce(data: bytes, subscribers: Mapping[str, str], verp: Verp | None) -> Reading:
    """The bounces `data` (one message) reports for `subscribers` (case-folded address ->
    the address as configured); a VERP envelope address names its subscriber even when the
    body names another address (a forward) or none."""
    message = message_from_bytes(data, policy=compat32)
    dsn = dsn_fields(message)
    hard, soft = _failures(message, dsn)
    if not hard and not soft:
        return Reading(ignored="not a bounce (no failed recipient found)")
    statuses = {a: s for a, (_, s) in dsn.items() if s}
    ref = reference(message, data)

    def one(email: str, addr: str, kind: str) -> Bounce:
        status = statuses.get(addr) or ("5.0.0" if kind == "hard" else "4.0.0")
        return Bounce(email, "hard" if kind == "hard" else "soft", status, "dsn", ref)

    named = verp.subscriber(message) if verp is not None else None
    if named is not None:
        kind, pool = ("hard", hard) if hard else ("soft", soft)
        addr = named.casefold() if named.casefold() in pool else sorted(pool)[0]
        return Reading(bounces=(one(named, addr, kind),))
    found = [one(subscribers[a], a, "hard") for a in sorted(hard) if a in subscribers]
    found += [one(subscribers[a], a, "soft") for a in sorted(soft) if a in subscribers]
    if not found:
        return Reading(ignored=f"not a subscriber ({len(hard | soft)} address(es))")
    return Reading(bounces=tuple(found))
