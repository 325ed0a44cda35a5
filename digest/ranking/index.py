"""Paper-side and keyword-side matrices for ranking: BM25F weights, phrase terms, and every
distinct keyword scored against every paper; pure."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import numpy.typing as npt
from scipy import sparse

from digest.models import Paper
from digest.ranking.keywords import Keyword, author_keys, derivational_pair, parse_keyword
from digest.ranking.text import stems

Floats = npt.NDArray[np.float32]


@dataclass(frozen=True)
class ScoringParams:
    """Knobs of the ranking. Each default was chosen by leave-one-profile-out validation on
    the 24 dev profiles (bench/quality.py prints every knob with the score one step either
    side); k1 and b are the textbook BM25 values."""

    title_weight: float = 2.0  # BM25F: a title term counts this many abstract terms
    abstract_weight: float = 1.0
    k1: float = 1.2
    b: float = 0.75
    word_weight: float = 0.5  # each word of an unquoted multi-word keyword
    phrase_weight: float = 0.5  # the phrase of a multi-word keyword, as one more term
    word_match: str = "any"  # an unquoted multi-word keyword matches when "all" or "any" of
    # its words appear, or ("phrase") only as the phrase
    partial_floor: float = 0.0  # a partial-only match needs this share of the best score
    # a multi-word keyword matches on some of its words only when one of them is in at most
    # this share of the papers ("explainable AI" not on any paper that says "AI"); 1 = off.
    # Not judged below `common_min_papers` papers: too few to tell a common word.
    common_share: float = 0.2
    common_min_papers: int = 20
    normalise: bool = False  # divide each keyword's scores by its best paper's score
    variant_root: int = 4
    variant_weight: float = 1.0  # derivational variants (molecules~molecular); 0 = off
    popularity_weight: float = 0.1
    semantic_weight: float = 0.5  # hybrid: the semantic side's share of the fused score
    semantic_floor: float = 0.45  # hybrid: a paper with no keyword match needs this similarity
    semantic_max_share: float = 0.25  # hybrid: best keyword's share vs the keywords' mean
    # liked / disliked papers (hybrid only; issue 28's study, checked by bench/feedback.py):
    # score + like_weight x minmax(best cosine to a liked paper) - dislike_weight x minmax(best
    # cosine to a disliked one); a paper at least like_gate similar to a liked one is a candidate
    like_weight: float = 0.2
    dislike_weight: float = 0.1
    like_gate: float = 0.35
    more_limit: int = 20
    chunk: int = 1024
    workers: int = 2


def _csr(
    rows: list[int], cols: list[int], vals: list[float] | None, shape: tuple[int, int]
) -> sparse.csr_matrix:
    data = np.ones(len(rows), np.float32) if vals is None else np.asarray(vals, np.float32)
    return sparse.csr_matrix((data, (rows, cols)), shape=shape, dtype=np.float32)


class Index:
    """Papers tokenised once: BM25F term weights (stems and the subscribers' phrases),
    presence flags, popularity, authors and categories."""

    def __init__(
        self,
        papers: Sequence[Paper],
        settings: ScoringParams,
        phrases: Iterable[tuple[str, ...]] = (),
    ) -> None:
        self.papers = list(papers)
        self.settings = settings
        self.position = {p.id: i for i, p in enumerate(self.papers)}
        self.titles = [stems(p.title) for p in self.papers]
        self.abstracts = [stems(p.abstract) for p in self.papers]
        self.vocab: dict[str, int] = {}
        tf = self._term_frequencies({ph for ph in phrases if len(ph) > 1})
        n = len(self.papers)
        df = np.asarray((tf > 0).sum(axis=0)).ravel().astype(np.float32)
        idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)
        k1 = settings.k1
        sat = tf.copy()
        sat.data = sat.data * (k1 + 1) / (sat.data + k1)
        self.weights = sparse.csr_matrix(sat.multiply(idf[None, :]), dtype=np.float32)
        self.present = sparse.csr_matrix(tf > 0, dtype=np.float32)
        upvotes = np.array([p.upvotes or 0 for p in self.papers], dtype=np.float32)
        self.popularity: Floats = (np.log1p(upvotes) / math.log1p(1000.0)).astype(np.float32)
        self.author_index, self.author_papers = self._keyed(
            [
                set().union(*(author_keys(a) for a in p.authors)) if p.authors else set()
                for p in self.papers
            ]
        )
        self.category_index, self.category_papers = self._keyed(
            [{c for cat in p.categories for c in (cat, cat.split(".", 1)[0])} for p in self.papers]
        )
        self._prefixes: dict[str, list[str]] | None = None
        self._variants: dict[str, list[tuple[int, float]]] = {}

    def _term_frequencies(self, phrases: set[tuple[str, ...]]) -> sparse.csr_matrix:
        s = self.settings
        lengths = sorted({len(ph) for ph in phrases})
        openers = {ph[:2] for ph in phrases}
        n = len(self.papers)
        avg_t = max(1.0, sum(map(len, self.titles)) / max(1, n))
        avg_a = max(1.0, sum(map(len, self.abstracts)) / max(1, n))
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        for i, (title, abstract) in enumerate(zip(self.titles, self.abstracts, strict=True)):
            fields = (
                (title, s.title_weight / (1 - s.b + s.b * len(title) / avg_t)),
                (abstract, s.abstract_weight / (1 - s.b + s.b * len(abstract) / avg_a)),
            )
            tf: dict[str, float] = {}
            for tokens, weight in fields:
                for tok, count in Counter(tokens).items():
                    tf[tok] = tf.get(tok, 0.0) + count * weight
                if not phrases:
                    continue
                # pairwise builds the adjacent pairs in C; only pairs opening a phrase go on
                for j, pair in enumerate(pairwise(tokens)):
                    if pair not in openers:
                        continue
                    for size in lengths:
                        gram = tuple(tokens[j : j + size])
                        if len(gram) == size and gram in phrases:
                            term = " ".join(gram)
                            tf[term] = tf.get(term, 0.0) + weight
            for term, freq in tf.items():
                rows.append(i)
                cols.append(self.vocab.setdefault(term, len(self.vocab)))
                vals.append(freq)
        return _csr(rows, cols, vals, (n, len(self.vocab)))

    def _keyed(self, per_paper: list[set[str]]) -> tuple[dict[str, int], sparse.csr_matrix]:
        """(key -> row, keys x papers flags) for authors or categories."""
        keys: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        for i, found in enumerate(per_paper):
            for key in found:
                rows.append(keys.setdefault(key, len(keys)))
                cols.append(i)
        return keys, _csr(rows, cols, None, (max(1, len(keys)), len(self.papers)))

    def column(self, term: str) -> int | None:
        """The column of a term: a stem, or the space-joined stems of an indexed phrase."""
        return self.vocab.get(term)

    def variants(self, stem: str) -> list[tuple[int, float]]:
        """Columns of `stem` (weight 1) and of its derivational variants in these papers."""
        cached = self._variants.get(stem)
        if cached is not None:
            return cached
        s = self.settings
        out: list[tuple[int, float]] = []
        self._variants[stem] = out
        own = self.vocab.get(stem)
        if own is not None:
            out.append((own, 1.0))
        if s.variant_weight <= 0 or len(stem) < s.variant_root:
            return out
        if self._prefixes is None:
            self._prefixes = {}
            for term in self.vocab:
                if " " not in term and len(term) >= s.variant_root:
                    self._prefixes.setdefault(term[: s.variant_root], []).append(term)
        for term in self._prefixes.get(stem[: s.variant_root], ()):
            if term != stem and derivational_pair(stem, term, s.variant_root):
                out.append((self.vocab[term], s.variant_weight))
        return out


class KeywordTable:
    """Distinct keywords of many subscribers, scored against every paper of an Index."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self.keywords: list[Keyword] = []
        self._slot: dict[tuple[tuple[str, ...], bool], int] = {}
        self._text: dict[str, int] = {}

    def add_text(self, text: str) -> int | None:
        """The row of the keyword written as `text` (None when it has no words)."""
        row = self._text.get(text)
        if row is None:
            kw = parse_keyword(text)
            if not kw.stems:
                return None
            row = self._text[text] = self.add(kw)
        return row

    def add(self, keyword: Keyword) -> int:
        """The row of `keyword`, adding it if new."""
        key = keyword.key
        if key not in self._slot:
            self._slot[key] = len(self.keywords)
            self.keywords.append(keyword)
        return self._slot[key]

    def build(self) -> tuple[sparse.csr_matrix, sparse.csr_matrix, sparse.csr_matrix]:
        """(scores, matches, full matches), keywords x papers.

        A keyword scores the BM25F weights of its words (`word_weight` each, variants
        included when `variant_weight` > 0) plus, for several words, its phrase as one more
        term (`phrase_weight`); a quoted phrase scores the phrase only. With `normalise`, each
        keyword's row is divided by its best paper's score, so every keyword counts alike
        whatever the rarity of its words. A keyword matches a paper when its single word (or
        a variant) or its phrase appears, or (unquoted) all of its words (`word_match` "all"),
        any of them ("any"), or none but the phrase ("phrase"). A full match is the phrase,
        the single word, or all the words: what exclusions need and reasons call a match.
        """
        return self._parts().rows(0, max(1, len(self.keywords)))

    def build_dense(
        self, block: int = 256
    ) -> tuple[Floats, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """`build` as dense arrays (float32 scores, boolean flags), `block` keywords at a
        time: the sparse products of the whole table at once are several times the size of
        the dense result, and would set the run's peak memory."""
        parts = self._parts()
        n_kw, n = max(1, len(self.keywords)), len(self.index.papers)
        scores = np.zeros((n_kw, n), dtype=np.float32)
        matches = np.zeros((n_kw, n), dtype=bool)
        full = np.zeros((n_kw, n), dtype=bool)
        for start in range(0, n_kw, block):
            stop = min(start + block, n_kw)
            s_part, m_part, f_part = parts.rows(start, stop)
            s_part.toarray(out=scores[start:stop])
            matches[start:stop] = m_part.toarray() > 0
            full[start:stop] = f_part.toarray() > 0
        return scores, matches, full

    def _parts(self) -> _TableParts:
        """The keyword-side matrices `build` multiplies, for any range of keyword rows."""
        idx = self.index
        s = idx.settings
        n_kw = max(1, len(self.keywords))
        word_slot: dict[str, int] = {}
        w_rows: list[int] = []
        w_cols: list[int] = []
        w_vals: list[float] = []
        kw_rows: list[int] = []
        kw_cols: list[int] = []
        kw_vals: list[float] = []
        ph_rows: list[int] = []
        ph_cols: list[int] = []
        need = np.full(n_kw, np.inf, dtype=np.float32)
        need_all = np.full(n_kw, np.inf, dtype=np.float32)
        for k, kw in enumerate(self.keywords):
            if kw.is_phrase:
                phrase = idx.column(" ".join(kw.stems))
                if phrase is not None:
                    ph_rows.append(k)
                    ph_cols.append(phrase)
                if kw.quoted:
                    continue
            distinct = list(dict.fromkeys(kw.stems))
            need_all[k] = len(distinct)
            if not kw.is_phrase or s.word_match == "all":
                need[k] = len(distinct)
            elif s.word_match == "any":
                need[k] = 1
            share = s.word_weight if kw.is_phrase else 1.0
            for stem in distinct:
                if stem not in word_slot:
                    row = word_slot[stem] = len(word_slot)
                    for col, weight in idx.variants(stem):
                        w_rows.append(row)
                        w_cols.append(col)
                        w_vals.append(weight)
                kw_rows.append(k)
                kw_cols.append(word_slot[stem])
                kw_vals.append(share)
        v = len(idx.vocab)
        n_words = max(1, len(word_slot))
        words = _csr(w_rows, w_cols, w_vals, (n_words, v))
        quoted = np.array([kw.quoted and kw.is_phrase for kw in self.keywords] or [False])
        present_t = idx.present.T.tocsr()
        weights_t = idx.weights.T.tocsr()
        word_present = sparse.csr_matrix((words @ present_t) > 0, dtype=np.float32)
        # words in more than common_share of the papers do not make a partial match
        n = len(idx.papers)
        common = np.zeros(n_words, dtype=bool)
        if n >= s.common_min_papers and s.common_share < 1:
            common = np.diff(word_present.indptr)[:n_words] > s.common_share * n
        several = np.array([self.keywords[k].is_phrase for k in kw_rows], dtype=bool)
        rare = ~(several & common[np.asarray(kw_cols, dtype=np.intp)])
        kw_rare = [(r, c) for (r, c, ok) in zip(kw_rows, kw_cols, rare, strict=True) if ok]
        return _TableParts(
            kw_words=_csr(kw_rows, kw_cols, kw_vals, (n_kw, n_words)),
            kw_any=_csr(kw_rows, kw_cols, None, (n_kw, n_words)),
            kw_rare=_csr([r for r, _ in kw_rare], [c for _, c in kw_rare], None, (n_kw, n_words)),
            phrases=_csr(ph_rows, ph_cols, None, (n_kw, v)),
            phrase_weights=np.where(quoted, 1.0, s.phrase_weight).astype(np.float32)[:n_kw],
            need=need,
            need_all=need_all,
            word_scores=sparse.csr_matrix(words @ weights_t),
            word_present=word_present,
            weights_t=weights_t,
            present_t=present_t,
            normalise=s.normalise,
        )


@dataclass(frozen=True)
class _TableParts:
    """Keywords x words (weighted and flags), keywords x phrase terms, and words x papers:
    every keyword row of the table is a product of these."""

    kw_words: sparse.csr_matrix
    kw_any: sparse.csr_matrix
    kw_rare: sparse.csr_matrix  # kw_any without a multi-word keyword's common words
    phrases: sparse.csr_matrix
    phrase_weights: Floats
    need: Floats
    need_all: Floats
    word_scores: sparse.csr_matrix
    word_present: sparse.csr_matrix
    weights_t: sparse.csr_matrix
    present_t: sparse.csr_matrix
    normalise: bool

    def rows(
        self, start: int, stop: int
    ) -> tuple[sparse.csr_matrix, sparse.csr_matrix, sparse.csr_matrix]:
        """(scores, matches, full matches) of keyword rows start..stop (see KeywordTable.build)."""
        phrases = self.phrases[start:stop]
        scores = sparse.csr_matrix(
            self.kw_words[start:stop] @ self.word_scores
            + sparse.diags(self.phrase_weights[start:stop]) @ phrases @ self.weights_t
        )
        if self.normalise and scores.nnz:
            best = np.asarray(scores.max(axis=1).todense()).ravel()
            scale = np.divide(1.0, best, out=np.zeros_like(best), where=best > 0)
            scores = sparse.csr_matrix(sparse.diags(scale.astype(np.float32)) @ scores)
        counts = sparse.csr_matrix(self.kw_any[start:stop] @ self.word_present)
        rare = sparse.csr_matrix(self.kw_rare[start:stop] @ self.word_present)
        in_phrase = phrases @ self.present_t
        full = _enough(counts, self.need_all[start:stop], in_phrase)
        some = _enough(rare, self.need[start:stop], in_phrase)
        return scores, sparse.csr_matrix((some + full) > 0, dtype=np.float32), full


def _enough(
    counts: sparse.csr_matrix, need: npt.NDArray[np.float32], in_phrase: sparse.csr_matrix
) -> sparse.csr_matrix:
    """Flags, keywords x papers: the phrase appears, or at least `need[k]` of the words."""
    enough = counts.copy()
    rows = np.repeat(np.arange(enough.shape[0]), np.diff(enough.indptr))
    enough.data = (enough.data >= need[rows]).astype(np.float32)
    enough.eliminate_zeros()
    return sparse.csr_matrix((in_phrase + enough) > 0, dtype=np.float32)


def keyword_similarity(
    table: KeywordTable,
    keyword_vectors: dict[str, Floats],
    paper_vectors: Floats,
    out: Floats | None = None,
) -> Floats:
    """Cosine similarity, keywords x papers, from unit vectors of each keyword (by its label)
    and of each paper (rows aligned with the index); 0 where a vector is missing. Written
    into `out` when given (float32, keywords x papers)."""
    dim = paper_vectors.shape[1]
    kv = np.zeros((max(1, len(table.keywords)), dim), dtype=np.float32)
    for k, kw in enumerate(table.keywords):
        vec = keyword_vectors.get(kw.label)
        if vec is not None:
            kv[k] = vec
    return np.matmul(kv, paper_vectors.astype(np.float32, copy=False).T, out=out)
