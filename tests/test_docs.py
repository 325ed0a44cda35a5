"""The README stays one page and the documentation site stays true: links resolve, the
generated references match the code, install lines keep an editable install, and the
screenshots are real images."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_render_browser import png_size

DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
SOURCE = re.compile(r'<img [^>]*src="([^"]+)"')  # the README's side-by-side screenshots


def _links(page: Path) -> list[str]:
    """The targets of a page's markdown links and images, outside code blocks and spans."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    text = re.sub(r"`[^`\n]*`", "", text)
    return LINK.findall(text) + SOURCE.findall(text)


def test_readme_is_one_page() -> None:
    """README.md is at most 150 lines; the rest lives in docs/."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines; move sections to docs/"


@pytest.mark.parametrize("page", [ROOT / "README.md", *PAGES], ids=lambda p: p.name)
def test_relative_links_point_to_existing_files(page: Path) -> None:
    """Every relative link and image in README.md and docs/*.md names a file that exists."""
    assert page.exists()
    missing = []
    for target in _links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL (https:, mailto:) or an anchor on the same page
        path = target.split("#", 1)[0]
        if not (page.parent / path).exists():
            missing.append(target)
    assert not missing, f"{page.name}: links to missing files: {missing}"


def test_docs_pages_are_all_in_the_navigation() -> None:
    """Every page in docs/ is listed in mkdocs.yml's nav, and every nav entry exists."""
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    listed = set(re.findall(r":\s+(\S+\.md)\s*$", config, re.MULTILINE))
    assert listed == {page.name for page in PAGES}


def test_generated_references_match_the_code() -> None:
    """The cog blocks of the configuration, CLI and library pages are what
    docs/gen_reference.py makes from the code today (regenerate: python docs/gen_reference.py)."""
    done = subprocess.run(
        [sys.executable, str(DOCS / "gen_reference.py"), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, (
        "the generated docs are out of date; run: python docs/gen_reference.py\n"
        + done.stdout
        + done.stderr
    )


def test_configuration_reference_names_every_key() -> None:
    """Every key of every config table appears in the configuration reference."""
    from digest.config.models import Settings
    from digest.sources.registry import TYPES

    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    models = [m for f in Settings.model_fields.values() for m in _models(f.annotation)]
    for model in [*models, *TYPES]:
        for name in model.model_fields:
            if name != "type":
                assert f"| `{name}` |" in text, f"{model.__name__}.{name} is not documented"


def _models(annotation: object) -> list[type]:
    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _models(arg)]


def test_extras_install_lines_keep_the_editable_install() -> None:
    """Every pip line in README.md and the docs that installs an extra of this checkout uses
    `-e` (a plain `pip install '.[postgres]'` replaces an editable install with a copy)."""
    for page in [ROOT / "README.md", *PAGES]:
        for line in page.read_text(encoding="utf-8").splitlines():
            if re.search(r"pip install .*'\.\[", line):
                assert re.search(r"pip install (\S+ )*-e '\.\[", line), f"{page.name}: {line}"


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshots_are_committed_pngs(scheme: str) -> None:
    """docs/img holds a light and a dark screenshot of a digest: PNGs 600 px wide, of a
    sensible height and size (remake: DIGEST_SCREENSHOTS=docs/img pytest
    tests/test_render_browser.py)."""
    data = (DOCS / "img" / f"digest-{scheme}.png").read_bytes()
    width, height = png_size(data)
    assert width == 600 and 300 <= height <= 2000
    assert 10_000 <= len(data) <= 400_000
