"""Signed link tokens: only the secret makes them, and they hold for one subject, one
purpose and a limited time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from digest.web.tokens import UNSUBSCRIBE, VIEW, sign, verify

SECRET = b"a-test-secret-of-enough-length"
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def _token(subject: str = "ada@example.org", purpose: str = UNSUBSCRIBE) -> str:
    return sign(SECRET, purpose, subject, now=NOW, days=30)


def test_a_token_verifies_to_its_subject() -> None:
    """A fresh token gives back the address it was made for."""
    assert verify(SECRET, UNSUBSCRIBE, _token(), now=NOW) == "ada@example.org"


def test_an_altered_subject_or_tag_or_expiry_is_refused() -> None:
    """Changing any part of a token (another address, a flipped tag character, a later
    expiry) makes it worthless."""
    subject, expires, tag = _token().split(".")
    other = _token("bob@example.org").split(".")[0]
    flipped = tag[:-1] + ("A" if tag[-1] != "A" else "B")
    later = f"{int(expires, 16) + 100:x}"
    for bad in (
        f"{other}.{expires}.{tag}",
        f"{subject}.{expires}.{flipped}",
        f"{subject}.{later}.{tag}",
    ):
        assert verify(SECRET, UNSUBSCRIBE, bad, now=NOW) is None


def test_a_token_for_another_purpose_or_secret_is_refused() -> None:
    """A view token cannot unsubscribe, and a token signed with another secret is nothing."""
    assert verify(SECRET, UNSUBSCRIBE, _token(purpose=VIEW), now=NOW) is None
    foreign = sign(
        b"another-secret-of-enough-length", UNSUBSCRIBE, "ada@example.org", now=NOW, days=30
    )
    assert verify(SECRET, UNSUBSCRIBE, foreign, now=NOW) is None


def test_a_token_expires() -> None:
    """A token holds through its last day and not after."""
    token = _token()
    assert verify(SECRET, UNSUBSCRIBE, token, now=NOW + timedelta(days=30)) is not None
    assert verify(SECRET, UNSUBSCRIBE, token, now=NOW + timedelta(days=31)) is None


def test_garbage_is_refused_without_an_exception() -> None:
    """Malformed tokens (wrong shape, bad base64, huge) are simply not valid."""
    for junk in ("", "a.b", "a.b.c.d", "!!!.1.???", "x" * 5000, "YWRh.zz.YWRh", "\udcff.1.2"):
        assert verify(SECRET, UNSUBSCRIBE, junk, now=NOW) is None
