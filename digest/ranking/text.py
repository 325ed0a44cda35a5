"""Text normalisation, written once: accent and case folding, word tokens, English stems; pure."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import Stemmer

_APOSTROPHE = "\u2019"
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)?", re.UNICODE)
_STEMMER = Stemmer.Stemmer("english")


def fold(text: str) -> str:
    """`text` without accents (NFKD, combining marks dropped) and case-folded."""
    if text.isascii():
        return text.casefold()
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """The English stem of one lower-case word."""
    return str(_STEMMER.stemWord(word))


def words(text: str) -> list[str]:
    """Lower-case, accent-folded word tokens of `text`."""
    return [w.replace(_APOSTROPHE, "'") for w in _WORD.findall(fold(text))]


def stems(text: str) -> list[str]:
    """Stemmed tokens of `text`, in order."""
    return [stem(w) for w in words(text)]
