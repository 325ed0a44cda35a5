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


# scripts written without spaces between words: Han, Hiragana, Katakana, Hangul syllables
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+")


def _bigrams(run: str) -> list[str]:
    """Overlapping character pairs of a run of CJK text (one character stays one token)."""
    return [run] if len(run) < 2 else [run[i : i + 2] for i in range(len(run) - 1)]


def words(text: str) -> list[str]:
    """Lower-case, accent-folded word tokens of `text`; runs of Chinese or Japanese (written
    without spaces) become overlapping character bigrams, the standard trick, so a keyword
    written that way matches as a phrase of bigrams."""
    out: list[str] = []
    for word in _WORD.findall(fold(text)):
        word = word.replace(_APOSTROPHE, "'")
        if not word.isascii() and _CJK.search(word):
            for part in re.split(f"({_CJK.pattern})", word):
                if not part:
                    continue
                out.extend(_bigrams(part) if _CJK.fullmatch(part) else [part])
        else:
            out.append(word)
    return out


def stems(text: str) -> list[str]:
    """Stemmed tokens of `text`, in order."""
    return [stem(w) for w in words(text)]
