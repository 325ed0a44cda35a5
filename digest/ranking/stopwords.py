"""English function words: a keyword made only of them would match nearly every paper."""

from __future__ import annotations

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each few
    for from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just me more most my myself no nor not now of off on once only or
    other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up
    upon very was we were what when where which while who whom why will with would you your
    yours yourself yourselves via per using use used""".split()  # noqa: SIM905 - readable
)


def only_stopwords(words: list[str]) -> bool:
    """True when `words` (folded, lower-case) has none that is not a stopword."""
    return all(w in STOPWORDS for w in words)
