"""The subscriber links a digest carries when [web] is set: one-click unsubscribe and
"View in browser"; pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from digest.config.values import Config
from digest.web.tokens import UNSUBSCRIBE, VIEW, sign

UNSUBSCRIBE_DAYS = 730  # a link in an old digest keeps working for two years


@dataclass(frozen=True)
class Links:
    """A digest's own links (None: [web] is not set)."""

    unsubscribe: str
    view: str


def digest_links(config: Config, email: str, message_id: str, *, now: datetime) -> Links | None:
    """The unsubscribe and view links of the digest `message_id` sent to `email`."""
    web = config.settings.web
    if web is None or config.web_secret is None:
        return None
    secret = config.web_secret
    leave = sign(secret, UNSUBSCRIBE, email, now=now, days=UNSUBSCRIBE_DAYS)
    view = sign(secret, VIEW, message_id, now=now, days=web.keep_days)
    return Links(unsubscribe=f"{web.base_url}/u/{leave}", view=f"{web.base_url}/d/{view}")
