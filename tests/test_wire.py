"""Message bytes built in one pass are the bytes the email package's generator gives."""

from __future__ import annotations

import random
import re
import string
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest

from digest.mail.compose import WIRE, Addressing, compose, envelope, to_bytes
from digest.mail.render import Rendered
from digest.mail.wire import boundary, fold_one, in_wire_form, outgoing, wire_digest

NOW = datetime(2025, 9, 16, 7, 30, tzinfo=UTC)
LONG = "a very long subject " * 9
CASES: list[dict[str, Any]] = [
    {"subject": "1 new paper · pruning · Tue 16 Sep", "to_name": "Zoë Ångström"},
    {"subject": f"12 new papers · {LONG} · Tue 16 Sep", "to_name": "Reader 12"},
    {"subject": "plain ascii subject", "to_name": ""},
    {
        "subject": "3 new papers · 量子 · Wed 17 Sep",
        "to_name": 'O\'Brien, "Pat"',
        "unsubscribe": ("https://digest.example.org/u/" + "A" * 90, "mailto:leave@example.org"),
        "one_click": True,
    },
    {
        "subject": "x" * 200,
        "to_name": "Ann\r\nBcc: evil@example.org",
        "unsubscribe": ("mailto:leave@example.org?subject=unsubscribe%20me",),
        "list_id": "ml-lab.example.org",
        "sender": "Lab Digest ✉ <digest@lab.example.org>",
    },
]
BODY_TEXT = "Papers for you\n\nü é — 漢字\n" + "line of text\n" * 400
BODY_HTML = "<!DOCTYPE html><p>héllo</p>\n" * 300


def _arguments(case: dict[str, Any]) -> Addressing:
    return Addressing(
        **{
            "sender": case.get("sender", "Paper Digest <digest@example.org>"),
            "to_name": case["to_name"],
            "to_email": "zoe@example.org",
            "day": date(2025, 9, 16),
            "paper_ids": ["arxiv:2509.00001", "arxiv:2509.00002"],
            "now": NOW,
            "unsubscribe": case.get("unsubscribe", ()),
            "list_id": case.get("list_id"),
            "one_click": case.get("one_click", False),
        }
    )


def _same_boundary(data: bytes) -> bytes:
    return re.sub(rb"={15}\d{19}==", b"BOUNDARY", data)


@pytest.mark.parametrize("case", CASES, ids=range(len(CASES)))
def test_wire_bytes_equal_the_generator_bytes(case: dict[str, Any]) -> None:
    """Headers, folding, part headers, base64 lines and the envelope match compose + to_bytes."""
    rendered = Rendered(subject=case["subject"], text=BODY_TEXT, html=BODY_HTML)
    arguments = _arguments(case)
    message = compose(rendered, arguments)
    wire = wire_digest(rendered, arguments)
    assert _same_boundary(wire.data) == _same_boundary(to_bytes(message))
    sender, rcpts = envelope(message)
    assert (wire.sender, list(wire.recipients)) == (sender, rcpts)
    assert wire.message_id == message["Message-ID"]
    assert outgoing(message).data == to_bytes(message)


def test_wire_bytes_parse_back_to_the_same_message() -> None:
    """The email package reads the subject, addresses and both bodies back unchanged."""
    rendered = Rendered(subject=CASES[0]["subject"], text=BODY_TEXT, html=BODY_HTML)
    parsed = message_from_bytes(
        wire_digest(rendered, _arguments(CASES[0])).data, policy=policy.default
    )
    assert isinstance(parsed, EmailMessage)
    assert parsed["Subject"] == CASES[0]["subject"]
    assert parsed["To"].addresses[0].display_name == "Zoë Ångström"
    assert parsed["Date"] == "Tue, 16 Sep 2025 07:30:00 +0000"
    text, html = (parsed.get_body((kind,)) for kind in ("plain", "html"))
    assert text is not None and text.get_content() == BODY_TEXT
    assert html is not None and html.get_content() == BODY_HTML
    assert all(
        len(line) <= 78 for line in wire_digest(rendered, _arguments(CASES[1])).data.split(b"\r\n")
    )


def test_boundaries_differ_and_look_like_the_generators() -> None:
    """Each message gets a fresh boundary of the generator's shape."""
    marks = {boundary() for _ in range(100)}
    assert len(marks) == 100
    assert all(re.fullmatch(r"={15}\d{19}==", m) for m in marks)


@pytest.mark.parametrize("size", [0, 1, 56, 57, 58, 114, 1000])
def test_bodies_of_any_length_encode_like_the_email_package(size: int) -> None:
    """Empty, short and line-boundary-sized bodies give the generator's base64 lines."""
    body = ("é" + "x" * size)[:size]
    rendered = Rendered(subject="s", text=body, html=body)
    arguments = _arguments(CASES[2])
    wire = wire_digest(rendered, arguments)
    assert _same_boundary(wire.data) == _same_boundary(to_bytes(compose(rendered, arguments)))


def test_headers_fold_exactly_as_the_email_package_folds_them() -> None:
    """fold_one gives fold_binary's bytes for values short and long, plain and not, at and
    around the line limit (40,000 seeded random values)."""
    rng = random.Random(2026)
    alphabet = string.ascii_letters + string.digits + string.punctuation + "     =?;,<>@é\t"
    for i in range(40_000):
        name = ("To", "Message-ID", "List-Unsubscribe")[i % 3]
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
        if i % 2:  # printable ASCII only: the case written directly
            value = "".join(c for c in value if " " <= c <= "~")
        assert fold_one(name, value) == WIRE.fold_binary(name, value), (name, value)


@pytest.mark.parametrize("case", CASES, ids=range(len(CASES)))
def test_digest_bytes_are_marked_ready_for_data_unchanged(case: dict[str, Any]) -> None:
    """A digest's bytes are flagged as already in DATA's wire form, and truly are."""
    body = ".a line starting with a dot\n\r\n" * 40
    wire = wire_digest(Rendered(subject=case["subject"], text=body, html=body), _arguments(case))
    assert wire.ready and in_wire_form(wire.data)
    assert not outgoing(compose(Rendered("s", body, body), _arguments(case))).ready
