"""The subscriber links a digest carries when [web] is set: one-click unsubscribe, "View in
browser", and "More / Less like this" on each paper (hybrid ranking only); pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from digest.config.values import Config
from digest.web.tokens import LESS, MORE, UNSUBSCRIBE, VIEW, sign

UNSUBSCRIBE_DAYS = 730  # a link in an old digest keeps working for two years
FEEDBACK_DAYS = 365


@dataclass(frozen=True)
class Links:
    """A digest's own links (None: [web] is not set)."""

    unsubscribe: str
    view: str
    feedback: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (more, less)


def feedback_subject(email: str, paper_id: str) -> str:
    """What a feedback token signs: the address and the paper."""
    return f"{email}\n{paper_id}"


def digest_links(
    config: Config,
    email: str,
    message_id: str,
    *,
    now: datetime,
    papers: Sequence[str] = (),
) -> Links | None:
    """The unsubscribe and view links of the digest `message_id` sent to `email`, and the
    feedback links of its `papers` when the ranking can use them (hybrid)."""
    web = config.settings.web
    if web is None or config.web_secret is None:
        return None
    secret, base = config.web_secret, web.base_url
    leave = sign(secret, UNSUBSCRIBE, email, now=now, days=UNSUBSCRIBE_DAYS)
    view = sign(secret, VIEW, message_id, now=now, days=web.keep_days)
    votes: dict[str, tuple[str, str]] = {}
    if config.semantic:  # the lexical ranking has no use for them: no links
        for pid in papers:
            subject = feedback_subject(email, pid)
            more = sign(secret, MORE, subject, now=now, days=FEEDBACK_DAYS)
            less = sign(secret, LESS, subject, now=now, days=FEEDBACK_DAYS)
            votes[pid] = (f"{base}/m/{more}", f"{base}/l/{less}")
    return Links(unsubscribe=f"{base}/u/{leave}", view=f"{base}/d/{view}", feedback=votes)
