"""The one-pass utf-8 header encoding gives exactly the email package's encoded words."""

from __future__ import annotations

import random
from email.header import Header

from digest.mail.subject import UTF8

ALPHABETS = [
    "abcdefghijklmnopqrstuvwxyz ",
    "abc def ·—–éüßøå ",
    "量子計算機 グラフ 神经网络 ",
    "🙂🚀✉ ab ",
    '=?_ \t"()<>@,;:\\/[]',
]


def _strings(rng: random.Random) -> list[str]:
    out = ["", "a", "·", "x" * 300, "é" * 120, "🙂" * 40]
    for _ in range(400):
        alphabet = rng.choice(ALPHABETS) + rng.choice(ALPHABETS)
        out.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 260))))
    return out


def test_linear_encoding_equals_the_stdlib_for_many_strings() -> None:
    """Random subjects in many scripts and widths encode and fold to identical text."""
    rng = random.Random(5)
    for text in _strings(rng):
        for maxlinelen, name in ((78, None), (78, "Subject"), (40, "Subject"), (0, None)):
            ours = Header(text, UTF8, header_name=name).encode(
                linesep="\r\n", maxlinelen=maxlinelen
            )
            theirs = Header(text, "utf-8", header_name=name).encode(
                linesep="\r\n", maxlinelen=maxlinelen
            )
            assert ours == theirs, (text, maxlinelen, name)


def test_mostly_ascii_uses_q_and_mostly_other_scripts_use_b() -> None:
    """The q/b choice is still the email package's shortest-wins rule."""
    assert Header("12 new papers · pruning", UTF8).encode().startswith("=?utf-8?q?")
    assert Header("量子計算機のためのグラフ", UTF8).encode().startswith("=?utf-8?b?")
