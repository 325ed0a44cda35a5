"""Jinja2 environment and render_digest: Digest -> subject, plain text and HTML; pure."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import css_inline
from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateSyntaxError,
    select_autoescape,
)

from digest.mail.cards import install
from digest.mail.latex import readable
from digest.models import Digest, Paper
from digest.ranking.reasons import PARTLY
from digest.sources.text import tex_accents
from digest.urls import web_url

SNIPPET_CHARS = 320
INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
MAX_AUTHORS = 3


def bundled_templates() -> Path:
    """The templates shipped with the package (wheel) or the checkout's templates/ folder."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "templates", package.parent / "templates"):
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
    names = [tex_accents(a) for a in authors[:limit]]
    return ", ".join(names) + (" et al." if len(authors) > limit else "")


def wrap(text: str, width: int = 78, indent: str = "", hanging: str | None = None) -> str:
    """Wrap plain text for a terminal mail client without breaking words or URLs; `hanging`
    indents the continuation lines (default: like the first). Greedy, like textwrap.fill
    with break_long_words=False and break_on_hyphens=False, at a tenth of its cost."""
    rest = indent if hanging is None else hanging
    lines: list[str] = []
    line = ""
    for word in text.split():
        if not line:
            line = (rest if lines else indent) + word
        elif len(line) + 1 + len(word) <= width:
            line += " " + word
        else:
            lines.append(line)
            line = rest + word
    if line:
        lines.append(line)
    return "\n".join(lines)


def extra_links(paper: Paper) -> list[tuple[str, str]]:
    """Code and project links a source gave for the paper, as (label, url); only http(s)."""
    links = []
    for label, url in (("code", paper.github), ("project page", paper.project_page)):
        safe = web_url(url)
        if safe:
            links.append((label, safe))
    if paper.arxiv_id and paper.source and paper.link.startswith("https://huggingface.co/"):
        links.append(("Hugging Face", paper.link))
    return links


def popularity(paper: Paper) -> str:
    """'12 upvotes, 2 comments' (whichever a source gave)."""
    parts = []
    if paper.upvotes:
        parts.append(f"{paper.upvotes} upvote{'s' if paper.upvotes != 1 else ''}")
    if paper.comments:
        parts.append(f"{paper.comments} comment{'s' if paper.comments != 1 else ''}")
    return ", ".join(parts)


def unsubscribe_label(url: str) -> str:
    """'email leave@example.org' for mailto links, 'this page' for web links."""
    if url.lower().startswith("mailto:"):
        return "email " + url[len("mailto:") :].split("?", 1)[0]
    return "this page"


def unsubscribe_links(templates: Sequence[str], email: str) -> tuple[str, ...]:
    """The configured unsubscribe URLs with ``{email}`` filled in (URL-encoded)."""
    return tuple(t.replace("{email}", quote(email, safe="@")) for t in templates)


def abs_link(paper: Paper) -> str:
    """The page a reader should land on for `paper`: its arXiv page, else its own link when
    that is http(s), else "" (the title is then shown without a link)."""
    if paper.arxiv_id:
        return f"https://arxiv.org/abs/{paper.arxiv_id}"
    return web_url(paper.link) or ""


@dataclass(frozen=True)
class Rendered:
    """One rendered digest, ready to compose into a message."""

    subject: str
    text: str
    html: str
    page: str | None = None  # the HTML kept for "View in browser" (no link to itself)


MEMO_SIZE = 8192  # per environment (one per run): a few thousand papers' pieces


def _memo(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` computed once per distinct argument for this environment's life: a paper is
    in many digests of a run, and its title, authors, abstract snippet and links come out
    the same each time (all these filters are pure)."""
    return functools.lru_cache(maxsize=MEMO_SIZE)(fn)


def make_environment(user_templates: Path | None = None) -> Environment:
    """A Jinja2 environment: user templates first, then the bundled ones; HTML autoescaped.
    Its per-paper filters are memoised, so each paper's pieces are rendered once a run."""
    folders = [str(user_templates)] if user_templates else []
    folders.append(str(bundled_templates()))
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(f) for f in folders]),
        autoescape=select_autoescape(enabled_extensions=("html", "htm"), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # one environment per run (or preview): templates are read once, not stat()ed before
        # every digest to see whether they changed
        auto_reload=False,
    )
    env.filters.update(
        snippet=_memo(snippet),
        short_authors=_memo(short_authors),
        wrap=_memo(wrap),
        abs_link=_memo(abs_link),
        tex=_memo(readable),
        extra_links=_memo(lambda paper: tuple(extra_links(paper))),
        unsubscribe_label=unsubscribe_label,
        popularity=_memo(popularity),
    )
    install(env)  # paper_card / text_card: each paper's card rendered once a run
    return env


def subject_for(digest: Digest) -> str:
    """'12 new papers · pruning, graph neural networks · Tue 16 Sep'."""
    n = digest.total
    counts: Counter[str] = Counter()
    for item in digest.papers:
        counts.update(r for r in item.reasons if not r.startswith(PARTLY))
    order = {k: i for i, k in enumerate(digest.subscriber.keywords)}
    top = sorted(counts, key=lambda k: (-counts[k], order.get(k, len(order)), k))[:3]
    noun = "paper" if n == 1 else "papers"
    parts = [f"{n} new {noun}"]
    if top:
        parts.append(", ".join(top))
    parts.append(f"{digest.day:%a} {digest.day.day} {digest.day:%b}")
    return readable(" · ".join(parts))


def render_digest(
    digest: Digest,
    env: Environment,
    *,
    unsubscribe: Sequence[str] = (),
    view: str | None = None,
    feedback: Mapping[str, tuple[str, str]] | None = None,
) -> Rendered:
    """Render one digest into subject, text and (CSS-inlined) HTML; `unsubscribe` holds the
    subscriber's own unsubscribe URLs (see ``unsubscribe_links``), `view` the address of
    this digest in a browser ([web]), when there is one.

    Paper cards are rendered once a run (digest.mail.cards); the assembled digest is
    CSS-inlined as one document, so a stylesheet sees exactly what the reader gets.
    """
    context = {
        "unsubscribe": tuple(unsubscribe),
        "view_url": view,
        "digest": digest,
        "subscriber": digest.subscriber,
        "items": digest.papers,
        "more": digest.more,
        "total": digest.total,
        "unlisted": digest.total - len(digest.papers) - len(digest.more),
        "day": digest.day,
        "as_page": False,
        "feedback": dict(feedback or {}),  # paper id -> (more like this, less like this)
    }
    subject = subject_for(digest)
    text = env.get_template("digest.txt").render(subject=subject, **context)
    html = env.get_template("digest.html").render(subject=subject, **context)
    page = None
    if view is not None:  # the page kept for "View in browser" does not link to itself
        as_page = {**context, "as_page": True}
        page = env.get_template("digest.html").render(subject=subject, **as_page)
    inline = INLINER.inline
    return Rendered(
        subject=subject,
        text=text,
        html=str(inline(html)),
        page=str(inline(page)) if page is not None else None,
    )


def template_problem(exc: TemplateError) -> str:
    """A template error as 'template error in FILE line N: what', from a syntax error's own
    position or the innermost template frame of a rendering error."""
    where = ""
    if isinstance(exc, TemplateSyntaxError):
        where = f" in {exc.filename or exc.name} line {exc.lineno}"
    else:
        tb = exc.__traceback__
        while tb is not None:
            name = tb.tb_frame.f_code.co_filename
            if name.endswith((".html", ".txt", ".htm")):
                where = f" in {name} line {tb.tb_lineno}"
            tb = tb.tb_next
    message = exc.message if isinstance(exc, TemplateSyntaxError) else str(exc)
    return f"template error{where}: {message}"
