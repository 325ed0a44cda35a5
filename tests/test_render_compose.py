"""Rendering and composing: structure, headers, escaping, stable Message-IDs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from pathlib import Path

from digest.mail.compose import Addressing, compose, to_bytes
from digest.mail.render import make_environment, render_digest, short_authors, snippet
from digest.models import Digest, Paper, Scored, Subscriber

NOW = datetime(2025, 9, 16, 7, 30, tzinfo=UTC)
SUB = Subscriber(name="Zoë Ångström", email="zoe@example.org", keywords=("pruning", "graphs"))


def _digest(*papers: Paper, more: tuple[Paper, ...] = ()) -> Digest:
    return Digest(
        subscriber=SUB,
        day=date(2025, 9, 16),
        papers=tuple(Scored(p, 1.0, ("pruning",)) for p in papers),
        more=tuple(Scored(p, 0.5, ("graphs",)) for p in more),
    )


def _message(digest: Digest) -> bytes:
    rendered = render_digest(digest, make_environment())
    to = Addressing(
        sender="Paper Digest <digest@example.org>",
        to_name=SUB.name,
        to_email=SUB.email,
        day=digest.day,
        paper_ids=[s.paper.id for s in (*digest.papers, *digest.more)],
        now=NOW,
    )
    msg = compose(rendered, to)
    return to_bytes(msg)


def test_message_is_multipart_alternative_with_required_headers() -> None:
    """The message has text and HTML parts, Date, Message-ID, and an encoded non-ASCII To."""
    raw = _message(_digest(Paper(id="arxiv:1", title="Pruning things", authors=("A",))))
    msg = message_from_bytes(raw, policy=policy.default)
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["Subject"] == "1 new paper · pruning · Tue 16 Sep"
    assert msg["To"].addresses[0].display_name == "Zoë Ångström"
    assert b"=?utf-8?" in raw.split(b"\r\n\r\n")[0]
    assert msg["Date"] == "Tue, 16 Sep 2025 07:30:00 +0000"
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))


def test_script_in_a_title_is_shown_as_text() -> None:
    """Feed text never becomes markup in the HTML part (autoescape)."""
    raw = _message(_digest(Paper(id="x", title="<script>alert(1)</script> & co")))
    html = message_from_bytes(raw, policy=policy.default).get_body(("html",)).get_content()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html


def test_message_id_is_stable_for_the_same_digest() -> None:
    """The same papers to the same person on the same day give the same Message-ID."""
    a = message_from_bytes(_message(_digest(Paper(id="p1", title="T"))), policy=policy.default)
    b = message_from_bytes(_message(_digest(Paper(id="p1", title="T"))), policy=policy.default)
    c = message_from_bytes(_message(_digest(Paper(id="p2", title="T"))), policy=policy.default)
    assert a["Message-ID"] == b["Message-ID"] != c["Message-ID"]


def test_text_part_lists_title_link_reason_and_more() -> None:
    """The plain-text part shows each paper, its reason and link, and the 'more matched' list,
    wrapped at 78 columns."""
    digest = _digest(
        Paper(id="arxiv:2509.11992", title="Pruning " * 20, abstract="word " * 200),
        more=(Paper(id="arxiv:2509.00001", title="Graphs too"),),
    )
    text = render_digest(digest, make_environment()).text
    assert "Matched: pruning" in text
    assert "https://arxiv.org/abs/2509.11992" in text
    assert "1 more matched" in text and "Graphs too" in text
    assert max(len(line) for line in text.splitlines()) <= 78


def test_user_templates_override_bundled_ones(tmp_path: Path) -> None:
    """A template in the user's folder wins; missing ones fall back to the bundled set."""
    (tmp_path / "digest.txt").write_text("custom {{ total }}\n")
    rendered = render_digest(_digest(Paper(id="x", title="T")), make_environment(tmp_path))
    assert rendered.text == "custom 1\n"
    assert "Paper Digest" in rendered.html


def test_snippet_and_authors_helpers() -> None:
    """Snippets cut at a word boundary with an ellipsis; long author lists end in 'et al.'."""
    assert snippet("alpha beta gamma", 11) == "alpha beta…"
    assert snippet("short", 11) == "short"
    assert short_authors(("A", "B", "C", "D")) == "A, B, C et al."


def test_the_base64_parts_are_what_mimetext_makes() -> None:
    """The fast utf-8 parts have MIMEText's headers and its exact 76-character base64 lines,
    and decode back to the text."""
    from email.mime.text import MIMEText

    from digest.mail.compose import WIRE, _utf8_part

    for text in ("", "a", "é" * 1000 + "\n" * 3, "<p>x</p>\r\n" * 500):
        fast, slow = _utf8_part(text, "html"), MIMEText(text, "html", "utf-8")
        assert fast.as_bytes(policy=WIRE) == slow.as_bytes(policy=WIRE)
        assert fast.get_payload(decode=True).decode("utf-8") == text


def test_the_wire_policy_folds_headers_as_compat32_does() -> None:
    """Remembered header folding gives compat32's own lines for ASCII values (long ones
    folded too), and utf-8 encoded words within 78 characters that decode back otherwise."""
    from email.header import decode_header, make_header
    from email.policy import Compat32

    from digest.mail.compose import WIRE

    plain = Compat32(linesep="\r\n")
    long_list = ", ".join(f"<https://example.org/u/{i}?token={'x' * 30}>" for i in range(4))
    for value in ("Ada <ada@example.org>", long_list, "a  b;c,d"):
        assert WIRE.fold_binary("List-Unsubscribe", value) == plain.fold_binary(
            "List-Unsubscribe", value
        )
        assert WIRE.fold_binary("List-Unsubscribe", value) is WIRE.fold_binary(
            "List-Unsubscribe", value
        )
    subject = "12 new papers · graph neural networks, Zoë's topics · Tue 16 Sep " * 3
    folded = WIRE.fold_binary("Subject", subject)
    lines = folded.decode("ascii").split("\r\n")
    assert all(len(line) <= 78 for line in lines)
    value = folded.decode("ascii").split(":", 1)[1].replace("\r\n", "")
    assert str(make_header(decode_header(value))) == subject
