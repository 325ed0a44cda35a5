"""Field types and validators shared by every config section (and by the source settings);
pure: each validator takes a value and returns it or raises ValueError in the config's words."""

from __future__ import annotations

import datetime as dt
import re
from email.utils import parseaddr
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

from digest.ids import ARXIV_CATEGORY

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_EMAIL = re.compile(rf"^[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]+@{_LABEL}(?:\.{_LABEL})+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


class Strict(BaseModel):
    """Base of every config section: unknown keys are errors, values are frozen, no coercion."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def no_control(value: str) -> str:
    """Reject CR, LF and other control characters (they would forge headers)."""
    if _CONTROL.search(value):
        raise ValueError(f"control characters (CR, LF, ...) are not allowed, found {value!r}")
    return value


def validate_email(value: str) -> str:
    """`value` if it is a plain email address, else ValueError saying what was found."""
    no_control(value)
    if not _EMAIL.match(value):
        raise ValueError(f"expected an email address like name@example.org, found {value!r}")
    return value


def sender(value: str) -> str:
    """'Name <address>' or a bare address."""
    no_control(value)
    _, addr = parseaddr(value)
    if not addr or not _EMAIL.match(addr):
        raise ValueError(f"expected 'Name <address@example.org>' or an address, found {value!r}")
    return value


def unsubscribe_url(value: str) -> str:
    """A mailto: or http(s) URL."""
    no_control(value)
    if not re.match(r"^(mailto:[^\s<>]+@[^\s<>]+|https?://[^\s<>]+)$", value, re.I):
        raise ValueError(f"expected a mailto: or http(s):// URL, found {value!r}")
    return value


def listen_address(value: str) -> str:
    """'host:port' (an IPv6 host in brackets) for the web endpoint."""
    no_control(value)
    match = re.match(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$", value)
    if not match or not 0 < int(match.group(2)) < 65536:
        raise ValueError(f"expected 'host:port' such as '127.0.0.1:8080', found {value!r}")
    return value


def base_url(value: str) -> str:
    """The public http(s) address subscriber links start with (no query or fragment)."""
    no_control(value)
    if not re.match(r"^https?://[^\s/?#<>]+(/[^\s?#<>]*)?$", value, re.I):
        raise ValueError(
            f"expected an http(s):// address such as 'https://digest.example.org', found {value!r}"
        )
    return value.rstrip("/")


def as_tuple(value: Any) -> Any:
    """TOML arrays arrive as lists; the frozen models keep tuples."""
    return tuple(value) if isinstance(value, list) else value


def category(value: str) -> str:
    """An arXiv category such as 'cs.LG' or an archive such as 'math'."""
    if not ARXIV_CATEGORY.match(value):
        raise ValueError(f"expected an arXiv category like 'cs.LG' or 'math', found {value!r}")
    return value


def clock(value: Any) -> Any:
    """'07:30' or '07:30:15' as a time of day."""
    if isinstance(value, dt.time):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", value):
        try:
            return dt.time.fromisoformat(value if len(value.split(":")[0]) == 2 else "0" + value)
        except ValueError:
            pass
    raise ValueError(f'expected a time like "07:30", found {value!r}')


def zone(value: str) -> str:
    """An IANA time zone name."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"expected an IANA time zone like 'Europe/Berlin', found {value!r}"
        ) from None
    return value


Text = Annotated[str, AfterValidator(no_control)]
Email = Annotated[str, AfterValidator(validate_email)]
Sender = Annotated[str, AfterValidator(sender)]
UnsubscribeUrl = Annotated[str, AfterValidator(unsubscribe_url)]
ListenAddress = Annotated[str, AfterValidator(listen_address)]
BaseUrl = Annotated[str, AfterValidator(base_url)]
Category = Annotated[str, AfterValidator(category)]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Clock = Annotated[dt.time, BeforeValidator(clock)]
Zone = Annotated[str, AfterValidator(zone)]
