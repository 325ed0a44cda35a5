"""The email package's utf-8 header encoding in linear time, with the same output; pure.

`email.charset.Charset.header_encode_lines` splits an encoded header into RFC 2047 words by
re-encoding the whole line after every character ("brute force it", its comment says), which
makes a Subject cost about 90 µs. The length of an encoded word only grows by what each
character adds, so the same split can be found in one pass. Everything else (choosing q or b,
folding, the words themselves) stays the email package's: `Utf8Charset` is the `Charset`
passed to `email.header.Header`. tests/test_subject.py compares it with the stdlib's.
"""

from __future__ import annotations

import email.base64mime
import email.quoprimime
from collections.abc import Iterator
from email.charset import RFC2047_CHROME_LEN, Charset
from functools import partial

_QP_LENGTH = [
    len(email.quoprimime.header_encode(bytes([b]), "x")) - len("=?x?q??=") for b in range(256)
]


def _qp_length(encoded: bytes) -> int:
    return sum(_QP_LENGTH[b] for b in encoded)


def _b64_length(size: int) -> int:
    return (size + 2) // 3 * 4


class Utf8Charset(Charset):
    """Charset("utf-8") whose header_encode_lines splits in one pass."""

    def __init__(self) -> None:
        super().__init__("utf-8")

    def header_encode_lines(self, string: str, maxlengths: Iterator[int]) -> list[str | None]:
        """The stdlib's lines for `string` (see the module docstring)."""
        codec = self.output_codec or "us-ascii"
        whole = string.encode(codec, "surrogateescape")
        module = self._get_encoder(whole)  # type: ignore[attr-defined]
        encoder = partial(module.header_encode, charset=codec)
        extra = len(self.get_output_charset() or "") + RFC2047_CHROME_LEN
        quoted = module is email.quoprimime
        lines: list[str | None] = []
        start = 0
        used = 0  # q: encoded length so far; b: bytes so far
        maxlen = next(maxlengths) - extra
        for i, character in enumerate(string):
            raw = character.encode(codec, "surrogateescape")
            grown = used + (_qp_length(raw) if quoted else len(raw))
            if (grown if quoted else _b64_length(grown)) > maxlen:
                if not lines and i == start:  # nothing fits on the first line
                    lines.append(None)
                else:
                    lines.append(encoder(string[start:i].encode(codec, "surrogateescape")))
                start, used = i, grown - used
                maxlen = next(maxlengths) - extra
            else:
                used = grown
        lines.append(encoder(string[start:].encode(codec, "surrogateescape")))
        return lines


UTF8 = Utf8Charset()
