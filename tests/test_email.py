"""The email as received: MIME structure, headers and encodings on the wire, escaping,
header-injection attempts, LaTeX, a snapshot of the text part, preview and test-email."""

from __future__ import annotations

import hashlib
import os
import re
from datetime import date
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from digest.mail.latex import readable
from digest.mail.render import make_environment, render_digest
from digest.models import Digest, Paper, Scored, Subscriber
from tests.cli_helpers import run_cli
from tests.conftest import DATA, fixture_bytes, write_config
from tests.servers import HttpServer, Reply, SmtpServer

pytestmark = pytest.mark.slow  # starts the CLI or servers in processes

NOW = "2025-09-16T07:30:00+00:00"

EVIL_FEED = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>evil</title>
<item><title>Pruning &lt;script&gt;alert(1)&lt;/script&gt; &amp;amp; friends&#13;&#10;Bcc: victim@evil.example</title>
<link>https://blog.example/p/1</link>
<description>Pruning with S$^3$ and $\\mathcal{O}(n)$ cost.</description></item>
</channel></rss>"""


def _config(
    tmp_path: Path, http: HttpServer, smtp: SmtpServer, sources: list[tuple[str, str]]
) -> Path:
    path = write_config(
        tmp_path,
        sources=sources,
        subscribers=[
            {
                "name": "Zoë Ångström",
                "email": "zoe@example.org",
                "keywords": ["pruning", "diffusion models"],
                "max_papers": 3,
            },
            {"name": "Bob", "email": "bob@example.org", "keywords": ["network"], "max_papers": 50},
        ],
        smtp_port=smtp.port,
    )
    text = path.read_text().replace(
        'outbox = "outbox"',
        'outbox = "outbox"\nunsubscribe = ["mailto:leave@example.org?subject=unsubscribe", "https://example.org/leave?u={email}"]',
    )
    path.write_text(text)
    return path


def _wire(
    tmp_path: Path,
    http_server: HttpServer,
    smtp_server: SmtpServer,
    capsys: pytest.CaptureFixture[str],
) -> list[bytes]:
    http_server.routes["/rss"] = Reply(fixture_bytes("arxiv_rss_cs_LG.xml"))
    http_server.routes["/hf"] = Reply(fixture_bytes("hf_daily_papers.json"))
    http_server.routes["/evil"] = Reply(EVIL_FEED)
    sources = [("rss", http_server.url("/rss")), ("evil", http_server.url("/evil"))]
    config = _config(tmp_path, http_server, smtp_server, sources)
    config.write_text(
        config.read_text()
        + f'\n[[sources]]\nname = "hf"\ntype = "hf-daily"\nurl = "{http_server.url("/hf")}"\n'
    )
    result = run_cli(capsys, "run", "--once", "--config", config, "--now", NOW)
    assert result.code == 0, result.out
    # several connections send at once, so arrival order is not config order: restore it
    order = {"zoe@example.org": 0, "bob@example.org": 1}
    return [r.data for r in sorted(smtp_server.received, key=lambda r: order[r.rcpt_tos[0]])]


def test_messages_on_the_wire_are_well_formed(
    tmp_path: Path,
    http_server: HttpServer,
    smtp_server: SmtpServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every message arrives with CRLF line ends, lines of at most 998 bytes, a text and an
    HTML part in UTF-8, and the From/To/Subject/Date/Message-ID/List-* headers."""
    raws = _wire(tmp_path, http_server, smtp_server, capsys)
    assert len(raws) == 2
    for raw in raws:
        assert b"\n" not in raw.replace(b"\r\n", b"")
        assert max(len(line) for line in raw.split(b"\r\n")) <= 998
        msg = message_from_bytes(raw, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        assert msg.get_content_type() == "multipart/alternative"
        parts = list(msg.iter_parts())
        assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
        assert all(p.get_content_charset() == "utf-8" for p in parts)
        assert all(p["Content-Transfer-Encoding"] in ("quoted-printable", "base64") for p in parts)
        for name in ("From", "To", "Subject", "Date", "Message-ID", "List-Id"):
            assert msg[name], name
        assert msg["List-Unsubscribe"].startswith("<mailto:leave@example.org")
        assert "https://example.org/leave?u=" in msg["List-Unsubscribe"]
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert re.fullmatch(r"\d+ new papers? · [^·]+ · Tue 16 Sep", msg["Subject"])
    zoe = message_from_bytes(raws[0], policy=policy.default)
    assert zoe["To"].addresses[0].display_name == "Zoë Ångström"
    assert b"=?utf-8?" in raws[0].split(b"\r\n\r\n")[0]
    assert zoe["Subject"].startswith("2") or zoe["Subject"][0].isdigit()


def test_feed_text_cannot_inject_headers_or_markup(
    tmp_path: Path,
    http_server: HttpServer,
    smtp_server: SmtpServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A title with CR LF 'Bcc:' and a <script> creates no header and no markup; entities are
    decoded once; the envelope goes only to the subscriber."""
    raws = _wire(tmp_path, http_server, smtp_server, capsys)
    for record in smtp_server.received:
        assert len(record.rcpt_tos) == 1
    zoe = message_from_bytes(raws[0], policy=policy.default)
    assert zoe["Bcc"] is None
    head = raws[0].split(b"\r\n\r\n")[0]
    assert b"victim" not in head
    html = zoe.get_body(("html",)).get_content()
    text = zoe.get_body(("plain",)).get_content()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; friends Bcc: victim@evil.example" in html
    assert "&amp;amp;" not in html
    assert "<script>alert(1)</script> & friends Bcc: victim@evil.example" in text


def test_paper_extras_and_latex_show(
    tmp_path: Path,
    http_server: HttpServer,
    smtp_server: SmtpServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """HF upvotes, code links and AI summaries appear when known; LaTeX reads as Unicode."""
    raws = _wire(tmp_path, http_server, smtp_server, capsys)
    bob = message_from_bytes(raws[1], policy=policy.default)
    html = bob.get_body(("html",)).get_content()
    text = bob.get_body(("plain",)).get_content()
    assert "▲" in html and "upvotes" in html
    assert ">code</a>" in html and "code: https://github.com/" in text
    assert "TL;DR:" in html and "TL;DR:" in text
    assert "S³" in html or "ℓ₁/ℓ₂" in html
    assert "$\\" not in text


def test_config_values_with_control_characters_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """CR/LF in a subscriber name, keyword or unsubscribe URL is a config error (exit 2)."""
    for field, value in (
        ("name", "Bob\\r\\nBcc: x@evil.example"),
        ("keywords", ["ok", "bad\\nX-Evil: 1"]),
    ):
        value_toml = (
            f'"{value}"'
            if isinstance(value, str)
            else "[" + ", ".join(f'"{v}"' for v in value) + "]"
        )
        text = (
            (
                '[email]\nsender = "P <d@example.org>"\n[[sources]]\nname = "a"\nurl = "a.xml"\n'
                f'[[subscribers]]\nname = "B"\nemail = "b@example.org"\nkeywords = ["x"]\n{field} = {value_toml}\n'
            )
            .replace('name = "B"\n', "" if field == "name" else 'name = "B"\n')
            .replace('keywords = ["x"]\n', "" if field == "keywords" else 'keywords = ["x"]\n')
        )
        path = tmp_path / f"{field}.toml"
        path.write_text(text)
        result = run_cli(capsys, "run", "--once", "--config", path)
        assert result.code == 2 and "control characters" in result.err, result.err
    bad = tmp_path / "unsub.toml"
    bad.write_text(
        '[email]\nsender = "P <d@example.org>"\nunsubscribe = ["https://x.org/\\r\\nBcc: y"]\n[[sources]]\nname = "a"\nurl = "a.xml"\n[[subscribers]]\nname = "B"\nemail = "b@example.org"\nkeywords = ["x"]\n'
    )
    result = run_cli(capsys, "run", "--once", "--config", bad)
    assert result.code == 2 and "email.unsubscribe[0]" in result.err


def test_latex_is_made_readable() -> None:
    """Common inline math and text macros become Unicode; unknown commands keep their letters."""
    assert readable("$\\mathcal{O}(n)$ time") == "O(n) time"
    assert readable("S$^3$: Social") == "S³: Social"
    assert readable("via $\\frac{\\ell_1}{\\ell_2}$") == "via ℓ₁/ℓ₂"
    assert readable("$>10^{19}$ ops, $\\Omega(2^N)$") == ">10¹⁹ ops, Ω(2ᴺ)"
    assert readable("{\\it determinism} and \\textbf{bold}") == "determinism and bold"
    assert readable("$\\weird{x}$") == "weirdx"
    assert readable("costs \\$5") == "costs $5"


SNAPSHOT = DATA / "snapshots" / "digest.txt"


def _fixed_digest() -> Digest:
    sub = Subscriber(
        name="Ada", email="ada@example.org", keywords=("pruning", "diffusion models"), max_papers=2
    )
    p1 = Paper(
        id="arxiv:2509.11992",
        title="Neural Network-Based Score Estimation in Diffusion Models: Optimization and Generalization",
        authors=("Renée Brown", "Jun Yılmaz", "Lukas Kumar", "Ingrid Nguyễn"),
        abstract="Diffusion models have emerged as a powerful tool rivaling GANs in generating high-quality samples with improved fidelity, flexibility, and robustness. "
        * 3,
        upvotes=12,
        comments=2,
        github="https://github.com/example/score",
        ai_summary="Score matching with networks generalises; here is how.",
    )
    p2 = Paper(id="arxiv:1312.4402", title="S$^3$: pruning in $\\mathcal{O}(1)$", abstract="Short.")
    p3 = Paper(id="doi:10.1/x", title="Another matched paper", link="https://doi.org/10.1/x")
    return Digest(
        subscriber=sub,
        day=date(2025, 9, 16),
        papers=(Scored(p1, 3.0, ("diffusion models",)), Scored(p2, 2.0, ("pruning",))),
        more=(Scored(p3, 1.0, ("pruning",)),),
        matched=5,
    )


def test_text_part_matches_the_snapshot() -> None:
    """The plain-text part of a fixed digest is exactly the reviewed snapshot (set
    UPDATE_SNAPSHOTS=1 to rewrite it after an intended change)."""
    text = render_digest(
        _fixed_digest(), make_environment(), unsubscribe=("mailto:leave@example.org",)
    ).text
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(text, encoding="utf-8")
    assert text == SNAPSHOT.read_text(encoding="utf-8")
    assert all(len(line) <= 78 or line.strip().startswith("http") for line in text.splitlines())


def test_preview_writes_html_and_eml_and_changes_nothing(
    tmp_path: Path,
    http_server: HttpServer,
    smtp_server: SmtpServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`digest preview` prints the paths of an .html and an .eml for one subscriber and leaves
    the store byte-identical; an unknown subscriber is a usage error."""
    http_server.routes["/rss"] = Reply(fixture_bytes("arxiv_rss_cs_LG.xml"))
    config = _config(tmp_path, http_server, smtp_server, [("rss", http_server.url("/rss"))])
    assert run_cli(capsys, "run", "--once", "--config", config, "--now", NOW).code == 0
    store = tmp_path / "state" / "digest.sqlite3"
    before = hashlib.sha256(store.read_bytes()).hexdigest()
    http_server.routes["/rss"] = Reply(
        fixture_bytes("arxiv_rss_cs_LG.xml").replace(b"2509.1", b"2509.9")
    )
    result = run_cli(
        capsys,
        "preview",
        "--config",
        config,
        "--subscriber",
        "Bob",
        "--out",
        tmp_path / "pv",
        "--now",
        "2025-09-17T07:30:00+00:00",
    )
    assert result.code == 0, result.out + result.err
    paths = dict(line.split(":", 1) for line in result.out.splitlines())
    html, eml = Path(paths["html"].strip()), Path(paths["eml"].strip())
    assert html.read_text().lstrip().lower().startswith("<!doctype html>")
    assert message_from_bytes(eml.read_bytes(), policy=policy.default)["To"]
    assert hashlib.sha256(store.read_bytes()).hexdigest() == before
    missing = run_cli(capsys, "preview", "--config", config, "--subscriber", "Nobody")
    assert missing.code == 2 and "no subscriber named 'Nobody'" in missing.err


def test_test_email_sends_one_sample_and_touches_no_state(
    tmp_path: Path,
    http_server: HttpServer,
    smtp_server: SmtpServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`digest test-email` delivers one sample digest to the given address and creates no store."""
    config = _config(tmp_path, http_server, smtp_server, [("rss", http_server.url("/rss"))])
    result = run_cli(capsys, "test-email", "--config", config, "--to", "check@example.org")
    assert result.code == 0, result.out + result.err
    assert [r.rcpt_tos for r in smtp_server.received] == [["check@example.org"]]
    assert not (tmp_path / "state").exists()
    assert "Lottery Ticket" in smtp_server.received[0].message.get_body(("plain",)).get_content()
    bad = run_cli(capsys, "test-email", "--config", config, "--to", "not-an-address")
    assert bad.code == 2
