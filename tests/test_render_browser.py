"""The HTML part in a real browser: headless Chromium at phone and desktop widths shows every
title with no horizontal overflow; screenshots are kept in test-artifacts/, and on request
(DIGEST_SCREENSHOTS) the docs' light and dark screenshots of a real digest are made."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from digest.mail.render import make_environment, render_digest
from digest.models import Digest, Paper, Scored, Subscriber
from tests.conftest import ROOT

pytestmark = pytest.mark.browser

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
# Headless Chromium will not make a window narrower than 500 px, so the email is shown in an
# iframe of the width under test (the iframe is the email's viewport, as a phone's screen is).
# The probe runs inside the email and posts what it measured to the host page.
PROBE = """
<script>
window.addEventListener('load', () => {
  const vw = window.innerWidth;
  const titles = [...document.querySelectorAll('a.title')].map(a => {
    const r = a.getBoundingClientRect();
    return {text: a.textContent, visible: r.width > 0 && r.height > 0 && r.left >= 0 && r.right <= vw + 1};
  });
  parent.postMessage(JSON.stringify({vw, scroll: document.documentElement.scrollWidth, titles}), '*');
});
</script>
"""
HOST = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="mail" src="email.html" style="border:0;width:{width}px;height:2400px"></iframe>
<script>
window.addEventListener('message', e => document.body.setAttribute('data-probe', e.data));
</script></body></html>"""


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed; .ci/run installs Debian's chromium")
    pytest.skip("chromium is not installed (apt-get install chromium)")


def _digest() -> Digest:
    sub = Subscriber(name="Ada", email="ada@example.org", keywords=("pruning",), max_papers=4)
    long_word = "Supercalifragilisticexpialidocious" * 3
    papers = (
        Paper(
            id="arxiv:2509.00001",
            title=f"A title with an unbreakable {long_word} word",
            abstract="https://example.org/" + "a" * 200,
            authors=("A", "B", "C", "D", "E"),
        ),
        Paper(
            id="arxiv:2509.00002",
            title="S$^3$: Social-network Simulation with $\\mathcal{O}(n)$ agents",
            abstract="Short abstract.",
            upvotes=288,
            comments=4,
            github="https://github.com/example/" + "x" * 80,
            ai_summary="An AI summary.",
        ),
        Paper(id="arxiv:2509.00003", title="Plain title", abstract="word " * 120),
        Paper(id="arxiv:2509.00004", title="<script>alert(1)</script> escaped", abstract="x"),
    )
    more = tuple(
        Scored(
            Paper(id=f"arxiv:2509.1{i:04d}", title=f"More matched paper number {i} " + long_word),
            0.5,
            ("pruning",),
        )
        for i in range(3)
    )
    return Digest(
        subscriber=sub,
        day=date(2025, 9, 16),
        papers=tuple(Scored(p, 1.0, ("pruning",)) for p in papers),
        more=more,
        matched=9,
    )


@pytest.mark.parametrize("width", [375, 1024])
def test_email_fits_and_shows_every_title(tmp_path: Path, width: int) -> None:
    """At 375 px and 1024 px the page never scrolls sideways and every title is on screen."""
    chromium = _chromium()
    html = render_digest(_digest(), make_environment()).html
    (tmp_path / "email.html").write_text(
        html.replace("</body>", PROBE + "</body>"), encoding="utf-8"
    )
    page = tmp_path / "host.html"
    page.write_text(HOST.replace("{width}", str(width)), encoding="utf-8")
    profile = tmp_path / "profile"
    window = max(width, 500)
    common = [
        chromium,
        *CHROMIUM_FLAGS,
        "--allow-file-access-from-files",
        f"--user-data-dir={profile}",
        f"--window-size={window},2400",
    ]
    dom = subprocess.run(
        [*common, "--virtual-time-budget=2000", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    match = re.search(r'data-probe="([^"]+)"', dom.stdout)
    assert match, dom.stderr[-2000:]
    probe = json.loads(
        match.group(1)
        .replace("&quot;", '"')
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
    )
    assert probe["vw"] == width
    assert probe["scroll"] <= width, probe
    assert len(probe["titles"]) == 4
    assert all(t["visible"] for t in probe["titles"]), probe["titles"]
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"email-{width}.png"
    subprocess.run(
        [*common, f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.stat().st_size > 10_000


# The docs' screenshots: a real digest (the demo config's bundled listings, Ada's keywords) at
# 600 px, in the light and the dark scheme. Made only on request, so a test run never rewrites
# committed images: DIGEST_SCREENSHOTS=docs/img python -m pytest tests/test_render_browser.py
SCREENSHOTS = os.environ.get("DIGEST_SCREENSHOTS", "")
SCREENSHOT_SIZE = (600, 1000)  # width x height in px: the top of the digest, several cards


@pytest.mark.skipif(not SCREENSHOTS, reason="set DIGEST_SCREENSHOTS=docs/img to remake them")
def test_docs_screenshots_of_a_real_digest(tmp_path: Path) -> None:
    """With DIGEST_SCREENSHOTS set, the demo config's preview for Ada is shot at 600 px in
    the light and the dark colour scheme into that folder as digest-light.png and
    digest-dark.png."""
    chromium = _chromium()
    shutil.copytree(
        ROOT / "examples", tmp_path / "examples", ignore=shutil.ignore_patterns("outbox", "state")
    )
    # a fixed day, so the images change only when the digest's look does
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "digest",
            "preview",
            "--config",
            str(tmp_path / "examples" / "demo.toml"),
            "--subscriber",
            "Ada Lovelace",
            "--out",
            str(tmp_path / "out"),
            "--now",
            "2025-09-16T07:30:00+00:00",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (html,) = (tmp_path / "out").glob("*.html")
    folder = Path(SCREENSHOTS)
    folder = folder if folder.is_absolute() else ROOT / folder
    folder.mkdir(parents=True, exist_ok=True)
    width, height = SCREENSHOT_SIZE
    for scheme, flags in (("light", []), ("dark", ["--force-dark-mode"])):
        shot = folder / f"digest-{scheme}.png"
        subprocess.run(
            [
                chromium,
                *CHROMIUM_FLAGS,
                *flags,
                f"--user-data-dir={tmp_path / f'profile-{scheme}'}",
                f"--window-size={width},{height}",
                f"--screenshot={shot}",
                html.as_uri(),
            ],
            capture_output=True,
            timeout=120,
            check=True,
        )
        assert png_size(shot.read_bytes()) == SCREENSHOT_SIZE


def png_size(data: bytes) -> tuple[int, int]:
    """A PNG's width and height from its IHDR chunk (ValueError when it is no PNG)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
