"""What a subscriber's words mean: keyword parsing, derivational variants, author-name keys."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache

from digest.ranking.text import fold, stems

_QUOTES = "\"'\u201c\u201d\u2018\u2019"

# Endings that derive one word from another without changing its topic (chem-istry/chem-ic,
# seism-ology/seism-ic, molecul-e/molecul-ar), in Snowball-stem space.
DERIVATIONAL = frozenset(
    {"", "i", "e", "y", "ic", "ical", "ar", "ular", "olog", "ologi", "istri", "it", "iti"}
    | {"ism", "ian", "ment"}
)


@dataclass(frozen=True)
class Keyword:
    """One keyword as written, stemmed; a quoted phrase matches only as a phrase."""

    label: str
    stems: tuple[str, ...]
    quoted: bool

    @property
    def key(self) -> tuple[tuple[str, ...], bool]:
        """Identity for de-duplication across subscribers."""
        return (self.stems, self.quoted and len(self.stems) > 1)

    @property
    def is_phrase(self) -> bool:
        """More than one word."""
        return len(self.stems) > 1


@lru_cache(maxsize=100_000)
def parse_keyword(text: str) -> Keyword:
    """'pruning', 'graph neural networks' (phrase or all words), '"graph neural network"'
    (quoted: the phrase only)."""
    raw = text.strip()
    quoted = len(raw) >= 2 and raw[0] in _QUOTES and raw[-1] in _QUOTES
    label = raw[1:-1].strip() if quoted else raw
    return Keyword(label=label, stems=tuple(stems(label)), quoted=quoted)


def derivational_pair(a: str, b: str, root: int = 4) -> bool:
    """True when stems `a` and `b` share a root of at least `root` characters and differ only
    by derivational endings (never latenc/latent or generat/general)."""
    shared = len(os.path.commonprefix([a, b]))  # noqa: RUF071 - character prefix is meant
    return any(
        a[cut:] in DERIVATIONAL and b[cut:] in DERIVATIONAL for cut in range(root, shared + 1)
    )


def fold_name(name: str) -> str:
    """An author name folded for comparison: no accents, case or punctuation."""
    return " ".join(re.sub(r"[^\w]+", " ", fold(name)).split())


def author_keys(name: str) -> set[str]:
    """Keys under which a paper's author matches: the folded name and 'initial surname'."""
    parts = fold_name(name).split()
    if not parts:
        return set()
    keys = {" ".join(parts)}
    if len(parts) >= 2:
        keys.add(f"{parts[0][0]} {parts[-1]}")
    return keys
