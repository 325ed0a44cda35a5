"""Paper cards rendered once a run give the same emails as rendering every digest whole."""

from __future__ import annotations

import random
import shutil
from datetime import date
from pathlib import Path

from digest.mail.cards import CHECKS, cards_of
from digest.mail.render import bundled_templates, make_environment, render_digest
from digest.models import Digest, Paper, Scored, Subscriber
from tests.conftest import DATA

REFERENCE = DATA / "reference_templates"  # digest.html/.txt before cards (base.html: bundled)
TITLES = [
    "Pruning $\\mathcal{O}(n)$ networks with S$^3$",
    "<script>alert(1)</script> & friends",
    "A very long title about graph neural networks " * 4,
    "Diffusion models für Bilder: Ärger mit Ölgemälden",
]


def _papers(rng: random.Random) -> list[Paper]:
    papers = []
    for n in range(60):
        papers.append(
            Paper(
                id=f"arxiv:2509.{n:05d}" if n % 5 else f"rss:{n}",
                title=f"{rng.choice(TITLES)} {n}",
                link=rng.choice(["https://blog.example/p", "javascript:alert(1)", ""]),
                authors=tuple(f"Author Ümlaut {k}" for k in range(rng.randint(0, 6))),
                abstract=rng.choice(["", "We prune $x^2$ weights & keep <b>accuracy</b>. " * 12]),
                upvotes=rng.choice([None, 0, 1, 17]),
                comments=rng.choice([None, 1, 3]),
                github=rng.choice([None, "https://github.com/x/y", "javascript:evil()"]),
                project_page=rng.choice([None, "https://proj.example/"]),
                ai_summary=rng.choice([None, "A short summary with $\\alpha$."]),
                source=rng.choice(["", "hf"]),
            )
        )
    return papers


def _digests(count: int) -> list[Digest]:
    rng = random.Random(11)
    papers = _papers(rng)
    reasons = [(), ("pruning",), ("pruning", "graphs"), ("partly: graphs",)]
    out = []
    for n in range(count):
        chosen = rng.sample(papers, rng.randint(1, 16))
        shown = rng.randint(1, len(chosen))
        sub = Subscriber(name=f"Zoë {n}", email=f"z{n}@example.org", keywords=("pruning", "graphs"))
        out.append(
            Digest(
                subscriber=sub,
                day=date(2025, 9, 16),
                papers=tuple(Scored(p, 1.0, rng.choice(reasons)) for p in chosen[:shown]),
                more=tuple(Scored(p, 0.5, ("graphs",)) for p in chosen[shown:]),
                matched=len(chosen) + rng.choice([0, 0, 5]),
            )
        )
    return out


def _render_both(reference: Path, templates: Path | None, digests: list[Digest]) -> None:
    cached, whole = make_environment(templates), make_environment(reference)
    for n, digest in enumerate(digests):
        links = {"unsubscribe": ("https://d.example/u/t", "mailto:x@example.org")} if n % 2 else {}
        view = f"https://d.example/d/{n}" if n % 4 == 1 else None
        ours = render_digest(digest, cached, view=view, **links)  # type: ignore[arg-type]
        old = render_digest(digest, whole, view=view, **links)  # type: ignore[arg-type]
        assert ours == old, digest.subscriber.email


def _with_stylesheet_rule(tmp_path: Path, rule: str) -> None:
    """tmp_path/mine: base.html with `rule` added to its stylesheet; tmp_path/reference: the
    same base.html with the one-piece reference digest templates."""
    for folder in ("mine", "reference"):
        (tmp_path / folder).mkdir()
    base = (bundled_templates() / "base.html").read_text(encoding="utf-8")
    base = base.replace("</style>", rule + "</style>", 1)
    for folder in ("mine", "reference"):
        (tmp_path / folder / "base.html").write_text(base, encoding="utf-8")
    for name in ("digest.html", "digest.txt"):
        shutil.copy(REFERENCE / name, tmp_path / "reference" / name)


def test_cached_cards_give_the_same_text_and_html_as_whole_rendering() -> None:
    """Forty varied digests come out byte for byte as the one-piece templates render them."""
    digests = _digests(40)
    _render_both(REFERENCE, None, digests)
    env = make_environment()
    for digest in digests:
        render_digest(digest, env)
    cards = cards_of(env)
    assert cards is not None and cards.fast and cards.checks_left == 0


def test_each_paper_is_rendered_once_a_run() -> None:
    """The cache holds one head and body per paper shown and one line per paper listed under
    "more matched", however many digests show them."""
    digests = _digests(40)
    env = make_environment()
    for digest in digests:
        render_digest(digest, env)
    cards = cards_of(env)
    assert cards is not None
    distinct = {s.paper for d in digests for s in d.papers}
    listed = {s.paper for d in digests for s in d.more}
    shown = sum(len(d.papers) for d in digests)
    assert len(cards.raw) == 2 * len(distinct) + len(listed) < 2 * shown
    numbered = {(s.paper, n) for d in digests for n, s in enumerate(d.papers, 1)}
    assert len(cards.text) == len(numbered) + len(distinct) + len(listed)


def test_css_that_reaches_across_a_card_edge_falls_back_to_whole_inlining(tmp_path: Path) -> None:
    """A user stylesheet with `.paper p` still styles the cards: the run inlines whole digests."""
    _with_stylesheet_rule(tmp_path, "  .paper p { letter-spacing: 1px; }\n")
    digests = _digests(CHECKS + 5)
    _render_both(tmp_path / "reference", tmp_path / "mine", digests)
    env = make_environment(tmp_path / "mine")
    html = render_digest(digests[0], env).html
    assert "letter-spacing: 1px" in html
    cards = cards_of(env)
    assert cards is not None and not cards.fast


NAMES = ["Zoë & Ann", "O'Brien <lab>", 'The "Q" team', "Dr.\u00a0No", "AT&amp;T", "x\ty", "Ω"]
WORDS = ["pruning", "a<b & c>d", '"quoted phrase"', "café\u00a0au lait", "x&amp;y"]


def _same_shape_digests(count: int) -> list[Digest]:
    rng = random.Random(5)
    papers = _papers(rng)
    out = []
    for n in range(count):
        keywords = tuple(rng.sample(WORDS, 3))
        sub = Subscriber(
            name=f"{rng.choice(NAMES)} {n}", email=f"u{n}@example.org", keywords=keywords
        )
        chosen = rng.sample(papers, 8)
        out.append(
            Digest(
                subscriber=sub,
                day=date(2025, 9, 16),
                papers=tuple(Scored(p, 1.0, (rng.choice(keywords),)) for p in chosen[:5]),
                more=tuple(Scored(p, 0.5, ("x",)) for p in chosen[5 : 5 + n % 4]),
                matched=8 + n % 3,
            )
        )
    return out


def test_digests_of_one_shape_share_one_inlined_skeleton_and_keep_their_own_words() -> None:
    """Digests alike but for their words and links (names and keywords with &, <, quotes,
    no-break spaces) are inlined once per shape and come out byte for byte as before."""
    digests = _same_shape_digests(60)
    _render_both(REFERENCE, None, digests)
    env = make_environment()
    for n, digest in enumerate(digests):
        unsubscribe = (f'https://d.example/u?who={n}&a="b"', "mailto:x@example.org?subject=a&b")
        render_digest(digest, env, unsubscribe=unsubscribe, view=f"https://d.example/d/{n}?a&b")
    cards = cards_of(env)
    assert cards is not None and cards.fast and cards.masking
    assert len(cards.shapes) <= 4  # 0-3 further matches listed, else alike


def test_attribute_selectors_keep_each_skeleton_whole(tmp_path: Path) -> None:
    """A stylesheet that selects on attribute values sees every digest's own links: the
    skeleton is then never masked, and the styles still land where they belong."""
    _with_stylesheet_rule(tmp_path, '  a[href$="/d/1"] { color: red; }\n')
    digests = _same_shape_digests(CHECKS + 5)
    _render_both(tmp_path / "reference", tmp_path / "mine", digests)
    env = make_environment(tmp_path / "mine")
    html = render_digest(
        digests[1], env, unsubscribe=("https://d.example/u/1",), view="https://d.example/d/1"
    ).html
    assert 'href="https://d.example/d/1" style="color: red;' in html
    cards = cards_of(env)
    assert cards is not None and not cards.masking and not cards.shapes


def test_a_paper_seen_again_with_other_content_gets_its_own_card() -> None:
    """Papers hash by id alone: a paper whose title changed under the same id is rendered
    afresh, not served the card cached for the old title."""
    old = Paper(id="arxiv:2509.00001", title="Old title", abstract="Old abstract.")
    new = Paper(id="arxiv:2509.00001", title="New title", abstract="New abstract.")
    assert hash(old) == hash(new) and old != new and len({old, new}) == 2
    sub = Subscriber(name="S", email="s@example.org", keywords=("title",))
    env = make_environment()
    for paper in (old, new):
        digest = Digest(sub, date(2025, 9, 16), (Scored(paper, 1.0, ("title",)),), (), 1)
        rendered = render_digest(digest, env)
        assert paper.title in rendered.html and paper.title in rendered.text
        assert paper.abstract in rendered.html
