"""A preview is a send: for every subscriber of config.example.toml (and with `[ranking]
more = 20`) `preview` writes the same HTML and text as a dry-run send, and the run report's
paper count is the one the Subject gives."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from digest import app
from digest.config.load import load_config
from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # two full runs per subscriber

NOW = datetime(2025, 9, 16, 7, 30, tzinfo=UTC)
LISTINGS = ROOT / "examples" / "listings"


def _example(tmp_path: Path, extra: str) -> Path:
    """config.example.toml with its sources replaced by the bundled sample listings (the
    example's own sources are on the internet) and its store in tmp_path."""
    text = (ROOT / "config.example.toml").read_text()
    head, rest = text.split("# Sources.", 1)
    tail = rest[rest.index("[schedule]") :]
    sources = "".join(
        f'[[sources]]\nname = "{day}"\ntype = "feed"\nurl = "{LISTINGS / f"{day}.xml"}"\n\n'
        for day in ("day1", "day2")
    )
    tail = tail.replace("[ranking]\n", f"[ranking]\nsemantic = false\n{extra}", 1)
    path = tmp_path / "example.toml"
    path.write_text(head + sources + tail)
    return path


def _parts(eml: Path) -> tuple[str, str, str]:
    """(Subject, HTML, text) of an .eml, with what differs by the moment of sending (the
    Message-ID and signed link tokens) blanked."""
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    html = message.get_body(("html",))
    text = message.get_body(("plain",))
    assert html is not None and text is not None

    def blank(s: str) -> str:
        return re.sub(r"/(u|d)/[A-Za-z0-9_.~-]+", "/TOKEN", s)

    return str(message["Subject"]), blank(html.get_content()), blank(text.get_content())


@pytest.mark.parametrize("extra", ["", "more = 20\n"], ids=["example", "more-20"])
def test_preview_shows_exactly_what_a_send_writes(tmp_path: Path, extra: str) -> None:
    """Each subscriber's preview has the Subject, HTML and text of their dry-run email, and
    the report's count for them is the Subject's."""
    config = load_config(_example(tmp_path, extra))
    sent = tmp_path / "sent"
    report = asyncio.run(app.run(config, now=NOW, dry_run=True, outbox_dir=sent))
    written = {d.email: d for d in report.deliveries if d.status == "written"}
    assert len(written) == len(config.subscribers) >= 1, report.deliveries
    for index, sub in enumerate(config.subscribers):
        delivery = written[sub.email]
        assert delivery.location is not None
        subject, html, text = _parts(Path(delivery.location))
        count = re.match(r"(\d+) new papers?", subject)
        assert count is not None and int(count.group(1)) == delivery.papers, subject
        shown = asyncio.run(
            app.preview(config, index, folder=tmp_path / f"p{index}", offline=False, now=NOW)
        )
        assert shown.eml is not None
        assert _parts(shown.eml) == (subject, html, text), sub.name
