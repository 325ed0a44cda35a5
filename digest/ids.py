"""Canonical paper ids: versionless arXiv id, else DOI, else guid/link, else a title hash."""

from __future__ import annotations

import hashlib
import re

from digest.ranking.text import fold

MAX_KEY = 200
ARXIV_CATEGORY = re.compile(r"^[a-z][a-z-]*(?:\.[A-Za-z]{2,})?$")
_NEW = r"\d{4}\.\d{4,5}"
_OLD = r"[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7}"
_ID = rf"(?P<id>{_NEW}|{_OLD})(?:v(?P<v>\d+))?"
_ARXIV_FORMS = re.compile(
    rf"""^\s*(?:
        (?:oai:arxiv\.org:)
      | (?:arxiv:)
      | (?:https?://(?:www\.|export\.|rss\.)?arxiv\.org/(?:abs|pdf|html)/)
      | (?:10\.48550/arxiv\.)
      | (?:https?://(?:dx\.)?doi\.org/10\.48550/arxiv\.)
      | (?:https?://huggingface\.co/papers/)
    )?{_ID}(?:\.pdf)?/?\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
_DOI = re.compile(r"^\s*(?:doi:|https?://(?:dx\.)?doi\.org/)?(?P<doi>10\.\d{4,9}/\S+)\s*$", re.I)


def parse_arxiv_id(text: str | None) -> tuple[str, int | None] | None:
    """Return (versionless id, version) when `text` is one of arXiv's id forms, else None."""
    if not text:
        return None
    m = _ARXIV_FORMS.match(text)
    if not m:
        return None
    ident = m.group("id")
    if "/" in ident:  # old style: archive name is lower case, subject class upper
        archive, _, number = ident.partition("/")
        head, dot, sub = archive.partition(".")
        ident = f"{head.lower()}{dot}{sub.upper()}/{number}"
    digits = m.group("v")
    version = int(digits) if digits and len(digits) <= 6 else None  # v99999999999999999999
    return ident, version


def normalise_doi(text: str | None) -> str | None:
    """Return the lower-cased bare DOI when `text` is a DOI or DOI URL, else None."""
    if not text:
        return None
    m = _DOI.match(text)
    return m.group("doi").lower().rstrip(".") if m else None


def normalise_title(title: str) -> str:
    """Fold case, accents, punctuation and whitespace so that retyped titles compare equal."""
    text = re.sub(r"[^\w]+", " ", fold(title))
    return " ".join(text.split())


def title_key(title: str) -> str:
    """A short stable hash of the normalised title."""
    return hashlib.sha256(normalise_title(title).encode("utf-8")).hexdigest()[:20]


def canonical_id(
    *,
    candidates: tuple[str | None, ...] = (),
    doi: str | None = None,
    guid: str | None = None,
    link: str | None = None,
    title: str = "",
) -> tuple[str, int | None]:
    """Pick the canonical id and version for a record from everything it says about itself.

    `candidates` are strings that may hold an arXiv id (guid, link, entry id, DOI); the first
    that parses wins. Then the DOI, then the guid, then the link, then a title hash.
    """
    for text in (*candidates, guid, link, doi):
        parsed = parse_arxiv_id(text)
        if parsed:
            return f"arxiv:{parsed[0]}", parsed[1]
    bare_doi = normalise_doi(doi)
    if bare_doi:
        return f"doi:{bare_doi}", None
    for kind, text in (("guid", guid), ("link", link)):
        if text and text.strip():
            text = text.strip()
            if len(text) > MAX_KEY:  # ids fit the store's key column; long ones are hashed
                text = "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
            return f"{kind}:{text}", None
    return f"title:{title_key(title)}", None
