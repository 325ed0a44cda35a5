"""Jinja2 environment and render_digest: Digest -> subject, plain text and HTML; pure."""

from __future__ import annotations

import textwrap
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import css_inline
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

from digest.models import Digest, Paper

SNIPPET_CHARS = 320
MAX_AUTHORS = 3


def bundled_templates() -> Path:
    """The templates shipped with the package (wheel) or the checkout's templates/ folder."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if (candidate / "digest.html").exists():
            return candidate
    raise FileNotFoundError("Paper Digest's templates are missing from this installation")


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """Cut `text` at a word boundary near `limit` characters, marking the cut with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit + 1].rsplit(" ", 1)[0].rstrip(" ,;:.")
    return cut + "…"


def short_authors(authors: tuple[str, ...], limit: int = MAX_AUTHORS) -> str:
    """'A, B, C' or 'A, B, C et al.' when there are more than `limit` authors."""
    if len(authors) <= limit:
        return ", ".join(authors)
    return ", ".join(authors[:limit]) + " et al."


def wrap(text: str, width: int = 78, indent: str = "") -> str:
    """Wrap plain text for a terminal mail client without breaking words or URLs."""
    return textwrap.fill(
        text,
        width=width,
        initial_indent=indent,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def abs_link(paper: Paper) -> str:
    """The page a reader should land on for `paper`."""
    if paper.arxiv_id:
        return f"https://arxiv.org/abs/{paper.arxiv_id}"
    return paper.link


@dataclass(frozen=True)
class Rendered:
    """One rendered digest, ready to compose into a message."""

    subject: str
    text: str
    html: str


def make_environment(user_templates: Path | None = None) -> Environment:
    """A Jinja2 environment: user templates first, then the bundled ones; HTML autoescaped."""
    folders = [str(user_templates)] if user_templates else []
    folders.append(str(bundled_templates()))
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(f) for f in folders]),
        autoescape=select_autoescape(enabled_extensions=("html", "htm"), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(snippet=snippet, short_authors=short_authors, wrap=wrap, abs_link=abs_link)
    return env


def subject_for(digest: Digest) -> str:
    """'12 new papers · pruning, graph neural networks · Tue 16 Sep'."""
    n = digest.total
    counts: Counter[str] = Counter()
    for item in digest.papers:
        counts.update(item.reasons)
    order = {k: i for i, k in enumerate(digest.subscriber.keywords)}
    top = sorted(counts, key=lambda k: (-counts[k], order.get(k, len(order)), k))[:3]
    noun = "paper" if n == 1 else "papers"
    parts = [f"{n} new {noun}"]
    if top:
        parts.append(", ".join(top))
    parts.append(f"{digest.day:%a} {digest.day.day} {digest.day:%b}")
    return " · ".join(parts)


def render_digest(digest: Digest, env: Environment) -> Rendered:
    """Render one digest into subject, text and (CSS-inlined) HTML."""
    context = {
        "digest": digest,
        "subscriber": digest.subscriber,
        "items": digest.papers,
        "more": digest.more,
        "total": digest.total,
        "unlisted": digest.total - len(digest.papers) - len(digest.more),
        "day": digest.day,
    }
    subject = subject_for(digest)
    text = env.get_template("digest.txt").render(subject=subject, **context)
    html = env.get_template("digest.html").render(subject=subject, **context)
    return Rendered(subject=subject, text=text, html=css_inline.inline(html))
